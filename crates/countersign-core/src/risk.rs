//! Risk level of a change, computed deterministically from what it touches, what it destroys, how
//! large and how spread it is, and how familiar its responsible humans are with the touched code.
//!
//! Every factor that raises the level says so in a reason; the level is the highest factor's. Scores
//! from defect-prediction research are weak classifiers (reference/blast-radius.md §3), so each
//! factor is a plain threshold a reviewer can check by hand.

use serde::{Deserialize, Serialize};

use crate::model::Operation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    pub const ALL: [RiskLevel; 4] = [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High, RiskLevel::Critical];
}

impl std::str::FromStr for RiskLevel {
    type Err = ();

    fn from_str(text: &str) -> Result<RiskLevel, ()> {
        match text {
            "low" => Ok(RiskLevel::Low),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            "critical" => Ok(RiskLevel::Critical),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        })
    }
}

/// A measure reaches a level when it is at least that level's threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub medium: Option<f64>,
    pub high: Option<f64>,
    pub critical: Option<f64>,
}

impl Thresholds {
    /// Never raises the level.
    pub const OFF: Thresholds = Thresholds { medium: None, high: None, critical: None };

    pub const fn new(medium: f64, high: f64) -> Thresholds {
        Thresholds { medium: Some(medium), high: Some(high), critical: None }
    }

    /// The highest level whose threshold the value reaches, with that threshold.
    pub fn level_of(&self, value: f64) -> Option<(RiskLevel, f64)> {
        [(RiskLevel::Critical, self.critical), (RiskLevel::High, self.high), (RiskLevel::Medium, self.medium)]
            .into_iter()
            .find_map(|(level, threshold)| threshold.filter(|threshold| value >= *threshold).map(|t| (level, t)))
    }
}

/// The `[risk]` table of `policy.toml`, with defaults for every key left out.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskSettings {
    /// Level given by touching a service of each tier; tiers past the end give nothing.
    pub tiers: Vec<Option<RiskLevel>>,
    pub destructive: RiskLevel,
    pub hazards: RiskLevel,
    pub gate_config: RiskLevel,
    pub lines_changed: Thresholds,
    pub files_changed: Thresholds,
    pub directories: Thresholds,
    pub services: Thresholds,
    /// Shannon entropy, in bits, of how the changed lines spread over files: 2^bits is the number of
    /// files an even change of the same spread would touch.
    pub entropy_bits: Thresholds,
    pub experience_days: u32,
    /// Fewer commits than this in the touched directories within `experience_days` is inexperience.
    pub experience_min_commits: u32,
    pub inexperienced: Option<RiskLevel>,
    /// Share (0 to 1) of the added lines AI wrote; off unless set.
    pub ai_share: Thresholds,
    /// Fix commits of the last `recent_fixes_days` that touched the change's files; off unless set.
    pub recent_fixes: Thresholds,
    pub recent_fixes_days: u32,
    /// Level given by changing code without changing any test; off unless set.
    pub untested: Option<RiskLevel>,
}

impl RiskSettings {
    /// Whether a change needs its files' recent fixes read.
    pub fn counts_recent_fixes(&self) -> bool {
        self.recent_fixes != Thresholds::OFF
    }
}

impl Default for RiskSettings {
    fn default() -> RiskSettings {
        RiskSettings {
            tiers: vec![Some(RiskLevel::High), Some(RiskLevel::Medium)],
            destructive: RiskLevel::Critical,
            hazards: RiskLevel::High,
            gate_config: RiskLevel::High,
            lines_changed: Thresholds::new(1000.0, 5000.0),
            files_changed: Thresholds::new(50.0, 200.0),
            directories: Thresholds::new(15.0, 60.0),
            services: Thresholds::new(2.0, 3.0),
            entropy_bits: Thresholds::new(4.0, 6.0),
            experience_days: 90,
            experience_min_commits: 1,
            inexperienced: Some(RiskLevel::Medium),
            ai_share: Thresholds::OFF,
            recent_fixes: Thresholds::OFF,
            recent_fixes_days: 90,
            untested: None,
        }
    }
}

/// One factor that raised the level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiskFactor {
    /// `tier`, `destructive`, `hazard`, `gate-config`, `lines`, `files`, `directories`, `services`,
    /// `entropy`, `experience`, `ai-share`, `recent-fixes` or `untested`.
    pub factor: std::borrow::Cow<'static, str>,
    pub level: RiskLevel,
    pub reason: String,
}

/// The measures of size and diffusion, reported whether or not they raised the level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiskMetrics {
    pub lines_changed: u64,
    pub files: usize,
    pub directories: usize,
    pub services: usize,
    pub entropy_bits: f64,
    /// Each responsible author's commits in the touched directories within the window; `None` when
    /// it could not be counted. `check` stops counting once every author has
    /// `experience_min_commits`, so a count at that number means "at least".
    pub experience: Vec<Experience>,
    /// Share of the added lines AI wrote, when `[risk] ai_share` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_share: Option<f64>,
    /// Fix commits that touched the change's files recently, when `[risk] recent_fixes` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_fixes: Option<u32>,
    /// Whether the change changes code and no test, when `[risk] untested` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untested: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Experience {
    pub person: String,
    pub commits: Option<u32>,
    /// Why `commits` is unknown, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Risk {
    pub level: RiskLevel,
    /// The factors' reasons, highest level first.
    pub reasons: Vec<String>,
    pub factors: Vec<RiskFactor>,
    pub metrics: RiskMetrics,
}

/// What the risk is computed from.
pub struct RiskInput<'a> {
    /// Touched services with their tiers.
    pub services: &'a [(String, u32)],
    pub touches_gate_config: bool,
    pub destructive: &'a [Operation],
    pub hazards: &'a [Operation],
    /// Changed paths with their changed line counts.
    pub files: &'a [(&'a str, u64)],
    /// Each responsible author and their commit count in the touched directories.
    pub experience: Vec<Experience>,
    /// Share of the added lines AI wrote, and whether it is estimated from the files AI-assisted
    /// commits touched rather than read line by line.
    pub ai_share: Option<(f64, bool)>,
    /// Recent fix commits on the change's files: `Err` says why they are unknown.
    pub recent_fixes: Result<u32, String>,
}

/// Each factor raises the level to at least its own; the level is the highest factor.
pub fn assess(settings: &RiskSettings, input: &RiskInput<'_>) -> Risk {
    let mut factors: Vec<RiskFactor> = Vec::new();
    let mut push = |factor: &'static str, level: RiskLevel, reason: String| {
        factors.push(RiskFactor { factor: std::borrow::Cow::Borrowed(factor), level, reason });
    };
    for operation in input.destructive {
        push("destructive", settings.destructive, format!("destructive: {operation}"));
    }
    for operation in input.hazards {
        push("hazard", settings.hazards, format!("hazard: {operation}"));
    }
    for (name, tier) in input.services {
        if let Some(Some(level)) = settings.tiers.get(*tier as usize) {
            push("tier", *level, format!("touches tier-{tier} service {name}"));
        }
    }
    if input.touches_gate_config {
        push("gate-config", settings.gate_config, "changes the gate's own configuration".to_owned());
    }

    let lines_changed: u64 = input.files.iter().map(|(_, lines)| lines).sum();
    let directories = directories_of(input.files.iter().map(|(path, _)| *path)).len();
    let entropy_bits = entropy_bits(input.files.iter().map(|(_, lines)| *lines));
    let measures: [(&'static str, &Thresholds, f64, String); 5] = [
        ("lines", &settings.lines_changed, lines_changed as f64, format!("{lines_changed} lines changed")),
        ("files", &settings.files_changed, input.files.len() as f64, format!("{} files changed", input.files.len())),
        ("directories", &settings.directories, directories as f64, format!("spread over {directories} directories")),
        (
            "services",
            &settings.services,
            input.services.len() as f64,
            format!(
                "touches {} services together ({})",
                input.services.len(),
                input.services.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ),
        (
            "entropy",
            &settings.entropy_bits,
            entropy_bits,
            format!(
                "changed lines spread like an even change of {:.0} files (entropy {entropy_bits:.2} bits)",
                entropy_bits.exp2()
            ),
        ),
    ];
    for (factor, thresholds, value, reason) in measures {
        if let Some((level, threshold)) = thresholds.level_of(value) {
            push(factor, level, format!("{reason}, at least {threshold} for {level}"));
        }
    }

    if let Some(level) = settings.inexperienced {
        let days = settings.experience_days;
        let minimum = settings.experience_min_commits;
        for experience in &input.experience {
            match experience.commits {
                Some(commits) if commits >= minimum => {}
                Some(commits) => push(
                    "experience",
                    level,
                    format!(
                        "{} has {commits} commit{} in the touched directories in the last {days} days (fewer than {minimum})",
                        experience.person,
                        if commits == 1 { "" } else { "s" }
                    ),
                ),
                None => push(
                    "experience",
                    level,
                    format!(
                        "experience of {} in the touched directories is unknown: {}",
                        experience.person,
                        experience.unknown.as_deref().unwrap_or("not counted")
                    ),
                ),
            }
        }
    }

    if settings.ai_share != Thresholds::OFF
        && let Some((share, estimated)) = input.ai_share
        && let Some((level, threshold)) = settings.ai_share.level_of(share)
    {
        let how = if estimated { " (estimated from the files AI-assisted commits touched)" } else { "" };
        push(
            "ai-share",
            level,
            format!(
                "AI wrote {:.0}% of the added lines{how}, at least {:.0}% for {level}",
                share * 100.0,
                threshold * 100.0
            ),
        );
    }
    let days = settings.recent_fixes_days;
    if settings.counts_recent_fixes() {
        match &input.recent_fixes {
            Ok(count) => {
                if let Some((level, threshold)) = settings.recent_fixes.level_of(f64::from(*count)) {
                    push(
                        "recent-fixes",
                        level,
                        format!(
                            "{count} fixes touched these files in the last {days} days, at least {threshold} for {level}"
                        ),
                    );
                }
            }
            Err(why) => {
                if let Some((level, _)) = settings.recent_fixes.level_of(f64::INFINITY) {
                    push("recent-fixes", level, format!("recent fixes of these files are unknown: {why}"));
                }
            }
        }
    }
    let paths: Vec<&str> = input.files.iter().map(|(path, _)| *path).collect();
    let untested = settings.untested.map(|level| (level, untested_code(&paths)));
    if let Some((level, true)) = untested {
        push("untested", level, "changes code and no test".to_owned());
    }

    factors.sort_by_key(|factor| std::cmp::Reverse(factor.level));
    let level = factors.first().map_or(RiskLevel::Low, |factor| factor.level);
    Risk {
        level,
        reasons: factors.iter().map(|factor| factor.reason.clone()).collect(),
        factors,
        metrics: RiskMetrics {
            lines_changed,
            files: input.files.len(),
            directories,
            services: input.services.len(),
            entropy_bits: (entropy_bits * 100.0).round() / 100.0,
            experience: input.experience.clone(),
            ai_share: (settings.ai_share != Thresholds::OFF)
                .then(|| input.ai_share.map(|(share, _)| (share * 1000.0).round() / 1000.0))
                .flatten(),
            recent_fixes: settings.counts_recent_fixes().then(|| input.recent_fixes.clone().ok()).flatten(),
            untested: untested.map(|(_, untested)| untested),
        },
    }
}

/// Whether a commit says it fixes something: its subject names a fix, a bug, a hotfix or a
/// regression. Reverts are told apart by their own markers.
pub fn looks_like_fix(message: &str) -> bool {
    let subject = message.lines().next().unwrap_or("").to_ascii_lowercase();
    !subject.starts_with("revert")
        && subject.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| {
            matches!(word, "fix" | "fixes" | "fixed" | "fixing" | "bug" | "bugfix" | "hotfix" | "regression")
        })
}

/// Whether a commit fixes or reverts something: what `recent_fixes` counts.
pub fn fixes_or_reverts(message: &str) -> bool {
    looks_like_fix(message)
        || message.lines().next().is_some_and(|subject| subject.trim_start().starts_with("Revert "))
        || message.lines().any(|line| line.trim().starts_with("This reverts commit "))
}

/// Extensions of source code; anything else (documents, data, configuration) is not code.
const CODE_EXTENSIONS: &[&str] = &[
    "c", "cc", "cpp", "cs", "cxx", "go", "h", "hpp", "java", "js", "jsx", "kt", "m", "mjs", "php", "py", "rb", "rs",
    "scala", "sh", "swift", "ts", "tsx", "vue",
];

/// Whether a path is a test: under a `test`, `tests`, `__tests__`, `spec` or `testdata`
/// directory, or named `test_*`, `*_test.*`, `*.test.*`, `*_spec.*` or `*.spec.*`.
pub fn is_test_path(path: &str) -> bool {
    let mut parts = path.split('/').rev();
    let name = parts.next().unwrap_or("").to_ascii_lowercase();
    let stem = name.split('.').next().unwrap_or("");
    parts.any(|dir| matches!(dir, "test" | "tests" | "__tests__" | "spec" | "testdata" | "testing"))
        || stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
}

/// Whether the paths change code and no test.
pub fn untested_code(paths: &[&str]) -> bool {
    let is_code = |path: &&str| {
        path.rsplit_once('.')
            .is_some_and(|(_, extension)| CODE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()))
    };
    paths.iter().any(|path| is_code(path) && !is_test_path(path)) && !paths.iter().any(|path| is_test_path(path))
}

/// Fix and revert commits by the paths they touched, to count each change's recent fixes.
#[derive(Default)]
pub struct FixHistory {
    by_path: std::collections::HashMap<String, Vec<(i64, u32)>>,
    fixes: u32,
}

impl FixHistory {
    /// Remembers a commit, if it fixes or reverts something. Feed commits oldest first.
    pub fn add(&mut self, commit: &crate::model::Commit) {
        if !fixes_or_reverts(&commit.message) {
            return;
        }
        self.fixes += 1;
        for file in &commit.files {
            self.by_path.entry(file.path.clone()).or_default().push((commit.time, self.fixes));
        }
    }

    /// The distinct fixes that touched any of `paths` in the `days` before `time`.
    pub fn count<'a>(&self, paths: impl IntoIterator<Item = &'a str>, time: i64, days: u32) -> u32 {
        let since = time - i64::from(days) * 86_400;
        let mut seen: Vec<u32> = Vec::new();
        for path in paths {
            let Some(fixes) = self.by_path.get(path) else { continue };
            // Author times need not grow along the history: no binary search.
            seen.extend(fixes.iter().filter(|(at, _)| (since..time).contains(at)).map(|(_, id)| *id));
        }
        seen.sort_unstable();
        seen.dedup();
        seen.len() as u32
    }
}

/// The parent directory of a path; `""` is the root.
pub fn directory_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(directory, _)| directory)
}

/// The distinct parent directories of the paths, sorted.
pub fn directories_of<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut directories: Vec<&str> = paths.into_iter().map(directory_of).collect();
    directories.sort_unstable();
    directories.dedup();
    directories
}

/// Shannon entropy of the distribution of changed lines over files (Kamei et al.'s diffusion
/// measure, not normalised). A file changed without line changes (binary, mode) counts as one line.
pub fn entropy_bits(lines: impl IntoIterator<Item = u64>) -> f64 {
    let lines: Vec<f64> = lines.into_iter().map(|lines| lines.max(1) as f64).collect();
    let total: f64 = lines.iter().sum();
    if lines.len() < 2 {
        return 0.0;
    }
    -lines.iter().map(|lines| lines / total).map(|share| share * share.log2()).sum::<f64>()
}
