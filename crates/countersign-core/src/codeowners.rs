//! GitHub CODEOWNERS: parsing, and which line owns a path, with the matching rules GitHub uses.

use std::fmt;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::finding::{Finding, Severity};

/// Where GitHub looks, in order; the first existing one wins.
pub const CODEOWNERS_LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// GitHub does not load CODEOWNERS files of this size or larger.
const MAX_SIZE: usize = 3 * 1024 * 1024;

/// Someone a CODEOWNERS line names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A GitHub login, without the `@`.
    User(String),
    Team {
        org: String,
        team: String,
    },
    Email(String),
}

impl Owner {
    /// Reads one owner token; None when it is none of the forms GitHub accepts.
    fn parse(token: &str) -> Option<Owner> {
        if let Some(name) = token.strip_prefix('@') {
            return match name.split_once('/') {
                Some((org, team)) => {
                    (is_name(org) && is_name(team)).then(|| Owner::Team { org: org.to_owned(), team: team.to_owned() })
                }
                None => is_name(name).then(|| Owner::User(name.to_owned())),
            };
        }
        let (local, domain) = token.split_once('@')?;
        (!local.is_empty() && !domain.is_empty() && !domain.contains('@')).then(|| Owner::Email(token.to_owned()))
    }
}

/// Logins, organisations and team slugs are ASCII letters, digits, `-` and `_`.
fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(login) => write!(f, "@{login}"),
            Owner::Team { org, team } => write!(f, "@{org}/{team}"),
            Owner::Email(email) => f.write_str(email),
        }
    }
}

/// Serialized as CODEOWNERS spells it, so reports read like the file.
impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One line of CODEOWNERS that GitHub applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CodeOwnersRule {
    /// 1-based line in the CODEOWNERS file.
    pub line: usize,
    /// The pattern as written.
    pub pattern: String,
    /// Empty when the line explicitly leaves its paths unowned.
    pub owners: Vec<Owner>,
}

/// A parsed CODEOWNERS file, ready to answer who owns a path.
#[derive(Clone, Debug)]
pub struct CodeOwners {
    file: Option<String>,
    rules: Vec<CodeOwnersRule>,
    globs: GlobSet,
    /// The index in `rules` of each glob in `globs`.
    glob_rule: Vec<usize>,
}

impl CodeOwners {
    /// Parses `text`, the CODEOWNERS file at repository path `file`. Lines GitHub would not
    /// apply are skipped and reported.
    pub fn parse(file: &str, text: &str) -> (CodeOwners, Vec<Finding>) {
        if text.len() >= MAX_SIZE {
            let mut finding = Finding::new(
                Severity::Error,
                "codeowners-too-large",
                format!(
                    "{file} is {} bytes; GitHub ignores CODEOWNERS files of 3 MB or more, so no \
                     path has code owners. Shorten it with wildcards or team owners.",
                    text.len()
                ),
            );
            finding.file = Some(file.to_owned());
            return (CodeOwners::empty(), vec![finding]);
        }

        let mut findings = Vec::new();
        let mut rules = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();
        // An editor's byte-order mark is not part of the first pattern.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let mut tokens = strip_comment(raw).split_whitespace();
            let Some(pattern) = tokens.next() else { continue };
            let globs = match translate(pattern) {
                Ok(globs) => globs,
                Err(problem) => {
                    findings.push(
                        Finding::new(
                            Severity::Warning,
                            "codeowners-invalid-pattern",
                            format!("`{pattern}`: {problem}; GitHub ignores this line"),
                        )
                        .at(file, line),
                    );
                    continue;
                }
            };

            let mut owners = Vec::new();
            let mut invalid = Vec::new();
            for token in tokens {
                match Owner::parse(token) {
                    Some(owner) => owners.push(owner),
                    None => invalid.push(token),
                }
            }
            // A line whose owners are all typos must not make its paths unowned.
            let skip = owners.is_empty() && !invalid.is_empty();
            let consequence = if skip {
                "no owner on this line is valid, so the whole line is ignored"
            } else {
                "it is dropped from this line"
            };
            for token in invalid {
                findings.push(
                    Finding::new(
                        Severity::Warning,
                        "codeowners-invalid-owner",
                        format!(
                            "`{token}` is not an owner: use `@login`, `@org/team` or an e-mail \
                             address; {consequence}"
                        ),
                    )
                    .at(file, line),
                );
            }
            if skip {
                continue;
            }

            for glob in globs {
                builder.add(glob);
                glob_rule.push(rules.len());
            }
            rules.push(CodeOwnersRule { line, pattern: pattern.to_owned(), owners });
        }

        match builder.build() {
            Ok(globs) => (CodeOwners { file: Some(file.to_owned()), rules, globs, glob_rule }, findings),
            Err(err) => {
                let mut finding = Finding::new(
                    Severity::Error,
                    "codeowners-too-complex",
                    format!(
                        "{file} has too many or too complex patterns to match ({err}), so no \
                         path has code owners. Merge patterns with wildcards."
                    ),
                );
                finding.file = Some(file.to_owned());
                findings.push(finding);
                (CodeOwners::empty(), findings)
            }
        }
    }

    /// No CODEOWNERS file: no path has code owners.
    pub fn empty() -> CodeOwners {
        CodeOwners { file: None, rules: Vec::new(), globs: GlobSet::empty(), glob_rule: Vec::new() }
    }

    /// The repository path the rules came from; None for [`CodeOwners::empty`].
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The last rule that matches path, or None. Rule with empty owners = explicitly unowned.
    pub fn rule_for(&self, path: &str) -> Option<&CodeOwnersRule> {
        // Globs are added in line order, so the highest glob index belongs to the last match.
        let glob = self.globs.matches(path).into_iter().max()?;
        Some(&self.rules[self.glob_rule[glob]])
    }

    pub fn rules(&self) -> &[CodeOwnersRule] {
        &self.rules
    }
}

/// Cuts a line at the first `#` that starts it or follows whitespace.
fn strip_comment(line: &str) -> &str {
    let mut after_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && after_space {
            return &line[..index];
        }
        after_space = c.is_whitespace();
    }
    line
}

/// Turns a CODEOWNERS pattern into the globs (one or two) that match the same paths, or says
/// why GitHub would not apply it.
fn translate(pattern: &str) -> Result<Vec<Glob>, String> {
    if pattern.starts_with('!') {
        return Err("negation (`!`) is not supported; give the paths that need other owners \
                    their own later line"
            .to_owned());
    }
    if pattern.starts_with("\\#") {
        return Err("a pattern cannot start with an escaped `#`; match the `#` with `?` instead".to_owned());
    }

    let (body, dir_only) = match pattern.strip_suffix('/') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    // A slash anywhere but at the end anchors the pattern at the root.
    let anchored = body.contains('/');
    let body = body.strip_prefix('/').unwrap_or(body);
    if body.is_empty() {
        return Err("the pattern names no path; use `*` to match every file".to_owned());
    }
    let last = body.rsplit_once('/').map_or(body, |(_, last)| last);
    let mut glob = if anchored { String::new() } else { String::from("**/") };
    glob.push_str(&escape_literals(body));

    let sources = if dir_only {
        vec![glob + "/**"]
    } else if last == "*" && anchored {
        // `docs/*` owns the files of `docs`, not those further down (GitHub's documented example).
        vec![glob]
    } else {
        // Any other last segment, wildcards included (`f*`, `/f*`), may match a directory,
        // which owns everything below it.
        vec![format!("{glob}/**"), glob]
    };
    sources
        .iter()
        .map(|source| {
            GlobBuilder::new(source)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|err| format!("not a valid pattern ({})", err.kind()))
        })
        .collect()
}

/// `{`, `}` are alternation and `[`, `]` character classes in globset, but plain characters in
/// CODEOWNERS: GitHub supports no character ranges, so `[param]` (a Next.js route folder) is
/// that folder's name.
fn escape_literals(body: &str) -> String {
    let mut escaped = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' | '[' | ']' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\\' => {
                escaped.push(c);
                escaped.extend(chars.next());
            }
            _ => escaped.push(c),
        }
    }
    escaped
}
