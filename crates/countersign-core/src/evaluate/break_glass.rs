//! Break-glass: who may let a blocked change through.

use crate::config::Config;

/// Why a person may not break the glass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OverrideRefusal {
    /// policy.toml has no `[break_glass]`.
    Disabled,
    LevelTooLow {
        person: String,
        level: String,
        needed: String,
    },
    ReasonRequired,
}

impl OverrideRefusal {
    /// A stable code for APIs and audit entries.
    pub fn code(&self) -> &'static str {
        match self {
            OverrideRefusal::Disabled => "break-glass-disabled",
            OverrideRefusal::LevelTooLow { .. } => "level-too-low",
            OverrideRefusal::ReasonRequired => "reason-required",
        }
    }
}

impl std::fmt::Display for OverrideRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OverrideRefusal::Disabled => write!(f, "break-glass is not enabled: policy.toml has no [break_glass]"),
            OverrideRefusal::LevelTooLow { person, level, needed } => {
                write!(f, "{person} is {level}; break-glass needs {needed} or above (break_glass.min_level)")
            }
            OverrideRefusal::ReasonRequired => write!(
                f,
                "break-glass needs a reason of at least {MIN_REASON_ALPHANUMERICS} letters or digits \
                 (break_glass.reason_required is on)"
            ),
        }
    }
}

/// Letters and digits a break-glass reason needs at least: spaces, punctuation and invisible
/// characters (a zero-width space) are no reason.
pub const MIN_REASON_ALPHANUMERICS: usize = 8;

fn says_something(reason: &str) -> bool {
    reason.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_REASON_ALPHANUMERICS
}

/// Whether the person (by position in the directory) may override with this reason. Break-glass
/// is for whoever is on call, the author included; a second person's review keeps it honest.
pub fn override_refused(config: &Config, person: usize, reason: &str) -> Option<OverrideRefusal> {
    let Some(break_glass) = &config.policy.break_glass else {
        return Some(OverrideRefusal::Disabled);
    };
    let person = &config.directory.people()[person];
    if person.level < break_glass.min_level {
        let levels = config.directory.levels();
        return Some(OverrideRefusal::LevelTooLow {
            person: person.id.clone(),
            level: levels[person.level].clone(),
            needed: levels.get(break_glass.min_level).cloned().unwrap_or_default(),
        });
    }
    if break_glass.reason_required && !says_something(reason) {
        return Some(OverrideRefusal::ReasonRequired);
    }
    None
}
