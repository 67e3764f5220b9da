//! Findings: problems the core noticed while it went on working.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Something worth telling the user that did not stop the analysis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub severity: Severity,
    /// A stable kebab-case identifier, e.g. `unknown-person`.
    pub code: std::borrow::Cow<'static, str>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Finding {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Finding {
        Finding { severity, code: std::borrow::Cow::Borrowed(code), message: message.into(), file: None, line: None }
    }

    pub fn at(mut self, file: impl Into<String>, line: usize) -> Finding {
        self.file = Some(file.into());
        self.line = Some(line);
        self
    }
}

/// `warning[code]: file:line: message`, as the CLI prints findings.
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let severity = match self.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{severity}[{}]:", self.code)?;
        if let (Some(file), Some(line)) = (&self.file, self.line) {
            write!(f, " {file}:{line}:")?;
        }
        write!(f, " {}", self.message)
    }
}
