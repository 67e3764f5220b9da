//! The parts of GitHub's webhook payloads the gate reads. Unknown fields are ignored (GitHub
//! adds fields freely); a missing one the gate needs makes the delivery unreadable.

use serde::Deserialize;

/// The numeric ids of Copilot code review (175728472) and the Copilot coding agent (198982749):
/// a login can be renamed or shown differently (`Copilot`, `copilot-pull-request-reviewer[bot]`,
/// `copilot-swe-agent[bot]`), the id stays.
const COPILOT_IDS: [u64; 2] = [175_728_472, 198_982_749];

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub login: String,
    #[serde(default)]
    pub id: u64,
    /// `User`, `Bot` or `Organization`.
    #[serde(default, rename = "type")]
    pub kind: String,
}

impl User {
    /// An app or agent, never a person: GitHub marks them `Bot`, and App logins end in `[bot]`.
    /// Copilot's reviewer and coding agent are among them, whatever their login is today.
    pub fn is_bot(&self) -> bool {
        let login = self.login.to_ascii_lowercase();
        self.kind.eq_ignore_ascii_case("bot")
            || login.ends_with("[bot]")
            || login == "copilot"
            || login.starts_with("copilot-")
            || COPILOT_IDS.contains(&self.id)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Repository {
    pub name: String,
    pub full_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Installation {
    pub id: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Branch {
    pub sha: String,
    #[serde(rename = "ref")]
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub head: Branch,
    pub base: Branch,
    pub user: User,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub pull_request: PullRequest,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: User,
    /// `approved`, `changes_requested`, `commented` or `dismissed`, in any letter case.
    pub state: String,
    #[serde(default)]
    pub body: Option<String>,
    /// The commit the review was given on: it counts for that content only.
    pub commit_id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ReviewEvent {
    pub action: String,
    pub review: Review,
    pub pull_request: PullRequest,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Deployment {
    pub sha: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ProtectionRuleEvent {
    pub action: String,
    pub environment: String,
    pub deployment_callback_url: String,
    /// Null in some deliveries; newer ones also carry the commit at the top level.
    #[serde(default)]
    pub deployment: Option<Deployment>,
    #[serde(default)]
    pub sha: Option<String>,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MergeGroup {
    pub head_sha: String,
    pub base_sha: String,
    #[serde(default)]
    pub head_ref: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MergeGroupEvent {
    pub action: String,
    pub merge_group: MergeGroup,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PushRepository {
    pub name: String,
    pub full_name: String,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub reference: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub forced: bool,
    pub repository: PushRepository,
    #[serde(default)]
    pub pusher: Option<Pusher>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Pusher {
    pub name: String,
}
