//! The decision where it lives: every `when` predicate, every requirement, every exclusion that is
//! not configurable, rejections, expiry, break-glass, owner groups and suggestions, each as a small
//! case over one fixed directory, snapshotted as a compact projection of the decision.

use countersign_core::attestation::{Statement, Verdict};
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::diagnostic::SourceFile;
use countersign_core::evaluate::{
    Decision, FoundAttestation, OverrideRefusal, ReviewRefusal, analyze, check_attestations, decide, evaluate,
    override_refused, review_refused,
};
use countersign_core::model::{
    AddedLines, BlastRadius, ChangeInput, Commit, FileChange, Identity, Operation, OperationSource, TreeChange,
};
use serde::Serialize;
use ssh_key::PrivateKey;
use ssh_key::private::{Ed25519Keypair, KeypairData};

/// The verifier's clock for every case.
const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

/// The fixture directory: id, name, e-mail, GitHub login, level, team, key seed.
const PEOPLE: [(&str, &str, &str, &str, &str, &str, u8); 5] = [
    ("alice", "Alice Moreau", "alice@shop.example", "alice-m", "senior", "checkout", 1),
    ("bob", "Bob Tran", "bob@shop.example", "bob-t", "junior", "checkout", 2),
    ("carol", "Carol Diaz", "carol@shop.example", "carol-d", "staff", "platform", 3),
    ("dave", "Dave Kim", "dave@shop.example", "dave-k", "mid", "platform", 4),
    ("erin", "Erin Vale", "erin@shop.example", "erin-v", "principal", "platform", 5),
];
const AGENT: (&str, &str) = ("ops-agent", "ops-agent@shop.example");
/// Seeds of keys nobody lists: the agent's and a stranger's.
const AGENT_SEED: u8 = 98;
const STRANGER_SEED: u8 = 99;

/// checkout is tier 0 and owned by team checkout; docs is tier 3 and owned by nobody.
const SERVICES: &str = include_str!("../../../../examples/services.toml");

/// Platform owns everything by default; checkout its service; carol the payments library; docs are
/// explicitly unowned; scripts are owned by a login nobody has.
const CODEOWNERS: &str = "* @shop/platform\n\
/services/checkout/ @shop/checkout\n\
/libs/payments/ @carol-d\n\
/docs/\n\
/scripts/ @ghost\n";

/// The documented policy of DESIGN §4.
const STANDARD: &str = include_str!("../../../../examples/policy.toml");

/// One rule that always applies and needs one approval.
const TWO_PERSON: &str = "version = 1\n\n[[rule]]\nname = \"two-person\"\nrequires = { count = 1 }\n";

const BREAK_GLASS: &str = "\n[break_glass]\nmin_level = \"senior\"\nreason_required = true\nreview_within_hours = 24\n";

/// The approval service's key: break-glass is only ever signed by it.
const SERVER_SEED: u8 = 97;
const SERVER: &str = "(approval service)";

/// `[server] keys` trusting the fixture's approval service.
fn server_keys() -> String {
    let public = key(SERVER_SEED).public_key().to_openssh().expect("encodable key");
    format!("\n[server]\nkeys = [\"{public}\"]\n")
}

const CART: &str = "services/checkout/cart.py";
const PAYMENTS: &str = "libs/payments/card.py";
const DOCS: &str = "docs/index.md";

const HUMAN_MESSAGE: &str = "Fix the cart total";
const AI_MESSAGE: &str = "Fix the cart total\n\nCo-authored-by: Claude <noreply@anthropic.com>";
const CAROL_CO_AUTHORED: &str = "Fix the cart total\n\nCo-authored-by: Carol Diaz <carol@shop.example>";

fn key(seed: u8) -> PrivateKey {
    PrivateKey::new(KeypairData::Ed25519(Ed25519Keypair::from_seed(&[seed; 32])), "test").expect("valid ed25519 key")
}

fn seed_of(who: &str) -> u8 {
    match PEOPLE.iter().find(|person| person.0 == who) {
        Some(person) => person.6,
        None if who == AGENT.0 => AGENT_SEED,
        None if who == SERVER => SERVER_SEED,
        None => STRANGER_SEED,
    }
}

fn people_toml() -> String {
    let mut text = String::from("levels = [\"intern\", \"junior\", \"mid\", \"senior\", \"staff\", \"principal\"]\n");
    for (id, name, email, github, level, team, seed) in PEOPLE {
        let public = key(seed).public_key().to_openssh().expect("encodable key");
        text.push_str(&format!(
            "\n[[person]]\nid = \"{id}\"\nname = \"{name}\"\nemails = [\"{email}\"]\ngithub = \"{github}\"\n\
             level = \"{level}\"\nteams = [\"{team}\"]\nkeys = [\"{public}\"]\n"
        ));
    }
    text.push_str(&format!("\n[[agent]]\nid = \"{}\"\nemails = [\"{}\"]\n", AGENT.0, AGENT.1));
    text
}

fn config(policy: &str) -> Config {
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people_toml()),
        services: Some(SourceFile::new("services.toml", SERVICES)),
        policy: SourceFile::new("policy.toml", policy),
        codeowners: Some(SourceFile::new(".github/CODEOWNERS", CODEOWNERS)),
    };
    match Config::load(&files) {
        Ok((config, _)) => config,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("the fixture configuration is invalid: {errors:#?}\n{policy}")
        }
    }
}

/// A fixture person by id, the agent by id, or a raw `Name <email>`.
fn identity(who: &str) -> Identity {
    if let Some((name, email)) = who.split_once(" <") {
        return Identity::new(name, email.trim_end_matches('>'));
    }
    if who == AGENT.0 {
        return Identity::new(AGENT.0, AGENT.1);
    }
    let person = PEOPLE.iter().find(|person| person.0 == who).expect("a fixture person");
    Identity::new(person.1, person.2)
}

/// A change under construction: commits oldest first, files, and what the pipeline says.
struct ChangeBuilder {
    change: ChangeInput,
}

fn change() -> ChangeBuilder {
    ChangeBuilder {
        change: ChangeInput {
            repo: "shop".to_owned(),
            base: "0".repeat(40),
            head: "0".repeat(40),
            environment: "production".to_owned(),
            source_branch: None,
            target_branch: None,
            requester: None,
            pull_request: None,
            commits: Vec::new(),
            files: Vec::new(),
            tree_changes: Vec::new(),
            blast: BlastRadius::default(),
            history: None,
            rollback: None,
            plans: Vec::new(),
            config_origin: None,
            added_lines: Vec::new(),
            notes: Vec::new(),
            recent_fixes: None,
        },
    }
}

/// One human commit touching one path.
fn human(author: &str, path: &str) -> ChangeBuilder {
    change().commit(author, HUMAN_MESSAGE).file(path, 10, 2)
}

/// One commit co-authored by Claude touching one path.
fn assisted(author: &str, path: &str) -> ChangeBuilder {
    change().commit(author, AI_MESSAGE).file(path, 10, 2)
}

impl ChangeBuilder {
    fn commit(self, author: &str, message: &str) -> ChangeBuilder {
        self.commit_by(author, author, message)
    }

    /// A commit whose id is its position repeated (`1111…`, `2222…`), so messages stay stable.
    fn commit_by(mut self, author: &str, committer: &str, message: &str) -> ChangeBuilder {
        let position = u32::try_from(self.change.commits.len() + 1).expect("few commits");
        let digit = char::from_digit(position, 16).expect("at most 15 commits");
        let id = digit.to_string().repeat(40);
        let parent = self.change.head.clone();
        self.change.commits.insert(
            0,
            Commit {
                id: id.clone(),
                parents: vec![parent],
                author: identity(author),
                committer: identity(committer),
                time: NOW - DAY,
                message: message.to_owned(),
                files: Vec::new(),
            },
        );
        self.change.head = id;
        self
    }

    /// A merge commit of a side branch, judged by the commits it brings in.
    fn merge(mut self, author: &str) -> ChangeBuilder {
        self = self.commit(author, "Merge branch 'side'");
        self.change.commits[0].parents.push("f".repeat(40));
        self
    }

    fn file(mut self, path: &str, added: u32, deleted: u32) -> ChangeBuilder {
        self.change.files.push(FileChange { path: path.to_owned(), added, deleted, deleted_file: false });
        self
    }

    fn environment(mut self, environment: &str) -> ChangeBuilder {
        self.change.environment = environment.to_owned();
        self
    }

    fn requester(mut self, requester: &str) -> ChangeBuilder {
        self.change.requester = Some(requester.to_owned());
        self
    }

    fn target(mut self, branch: &str) -> ChangeBuilder {
        self.change.target_branch = Some(branch.to_owned());
        self
    }

    /// A head that drops commits of its base, as the read stage marks a deployment's.
    fn rollback(mut self, dropped_commits: u64) -> ChangeBuilder {
        self.change.rollback = Some(countersign_core::model::Rollback { base: "b".repeat(40), dropped_commits });
        self
    }

    /// A plan the decision depends on.
    fn plan(mut self, digest: &str) -> ChangeBuilder {
        self.change
            .plans
            .push(countersign_core::model::PlanDigest { file: "plan.json".to_owned(), digest: digest.to_owned() });
        self
    }

    /// Lines `first..=last` added to `path`, written by the `commit`-th commit (1-based).
    fn wrote(mut self, commit: usize, path: &str, first: u32, last: u32) -> ChangeBuilder {
        let id =
            char::from_digit(u32::try_from(commit).expect("few commits"), 16).expect("a digit").to_string().repeat(40);
        let lines = (first..=last).map(|line| (line, Some((id.clone(), line))));
        match self.change.added_lines.iter_mut().find(|file| file.path == path) {
            Some(file) => file.lines.extend(lines),
            None => self.change.added_lines.push(AddedLines { path: path.to_owned(), lines: lines.collect() }),
        }
        self
    }

    /// A migration that drops a table, as the blast-radius analysers report it.
    fn drops_table(mut self) -> ChangeBuilder {
        self.change.blast.destructive.push(Operation {
            source: OperationSource::Migration,
            file: "db/migrations/0042_drop_orders.sql".to_owned(),
            line: Some(1),
            target: "orders".to_owned(),
            action: "ban-drop-table".to_owned(),
            reason: None,
        });
        self
    }

    /// The change, with its tree diff derived from its files.
    fn recent_fixes(mut self, count: u32, complete: bool) -> ChangeBuilder {
        self.change.recent_fixes = Some(countersign_core::model::RecentFixes { count, complete });
        self
    }

    fn build(mut self) -> ChangeInput {
        self.change.tree_changes = self
            .change
            .files
            .iter()
            .map(|file| TreeChange {
                path_bytes: file.path.as_bytes().to_vec(),
                path: file.path.clone(),
                old_id: Some(format!("{}@base", file.path)),
                new_id: Some(format!("{}@+{}-{}", file.path, file.added, file.deleted)),
                mode: "100644".to_owned(),
                digest: format!("{}@+{}-{}", file.path, file.added, file.deleted),
            })
            .collect();
        self.change
    }
}

/// A statement to sign for the change under test; every part can be bent to test a refusal.
#[derive(Clone, Debug)]
struct Att {
    person: &'static str,
    verdict: Verdict,
    comment: &'static str,
    /// Seconds before `NOW`; negative for a statement dated in the future.
    age: i64,
    environment: &'static str,
    /// `None`: the change's own fingerprint.
    fingerprint: Option<&'static str>,
    /// `None`: the change's head.
    head: Option<&'static str>,
    /// Whose key signs; `None`: the person's own.
    signer: Option<&'static str>,
    /// Digests of the plans the statement names.
    plans: &'static [&'static str],
    /// The files the web interface saw the reviewer open.
    opened: &'static [&'static str],
    /// Names every changed file as opened by their digest, as for a large change.
    opened_every: bool,
}

fn statement(person: &'static str, verdict: Verdict, comment: &'static str) -> Att {
    Att {
        person,
        verdict,
        comment,
        age: 3_600,
        environment: "production",
        fingerprint: None,
        head: None,
        signer: None,
        plans: &[],
        opened: &[],
        opened_every: false,
    }
}

fn approve(person: &'static str) -> Att {
    statement(person, Verdict::Approve, "")
}

fn reject(person: &'static str, comment: &'static str) -> Att {
    statement(person, Verdict::Reject, comment)
}

/// Break-glass as the approval service records it: signed with its key.
fn break_glass(person: &'static str, reason: &'static str) -> Att {
    statement(person, Verdict::Override, reason).signed_by(SERVER)
}

impl Att {
    fn aged(mut self, secs: i64) -> Att {
        self.age = secs;
        self
    }

    fn environment(mut self, environment: &'static str) -> Att {
        self.environment = environment;
        self
    }

    fn fingerprint(mut self, fingerprint: &'static str) -> Att {
        self.fingerprint = Some(fingerprint);
        self
    }

    fn head(mut self, head: &'static str) -> Att {
        self.head = Some(head);
        self
    }

    fn plans(mut self, plans: &'static [&'static str]) -> Att {
        self.plans = plans;
        self
    }

    fn opened(mut self, opened: &'static [&'static str]) -> Att {
        self.opened = opened;
        self
    }

    fn opened_every_file(mut self) -> Att {
        self.opened_every = true;
        self
    }

    fn signed_by(mut self, signer: &'static str) -> Att {
        self.signer = Some(signer);
        self
    }

    fn sign(&self, position: usize, change: &ChangeInput) -> FoundAttestation {
        let own = change.fingerprint();
        let statement = Statement::new(
            self.verdict,
            self.person,
            self.fingerprint.unwrap_or(&own),
            self.environment,
            self.head.unwrap_or(&change.head),
            NOW - self.age,
            self.comment,
        )
        .with_plans(self.plans.iter().map(|plan| (*plan).to_owned()).collect());
        let statement = Statement { opened: self.opened.iter().map(|path| (*path).to_owned()).collect(), ..statement };
        let paths: Vec<String> = change.files.iter().map(|file| file.path.clone()).collect();
        let opened_all =
            if self.opened_every { countersign_core::attestation::paths_digest(&paths) } else { String::new() };
        let statement = Statement { opened_all, ..statement };
        let envelope = statement.sign(&key(seed_of(self.signer.unwrap_or(self.person)))).expect("signable statement");
        FoundAttestation::new(format!("#{}", position + 1), envelope.to_json().into_bytes())
    }
}

fn sign_all(change: &ChangeInput, attestations: &[Att]) -> Vec<FoundAttestation> {
    attestations.iter().enumerate().map(|(position, att)| att.sign(position, change)).collect()
}

/// Builds the configuration with this policy, signs the attestations for the change and decides.
fn check(policy: &str, change: ChangeInput, attestations: &[Att]) -> Decision {
    let config = config(policy);
    evaluate(&config, &change, &sign_all(&change, attestations), NOW)
}

/// What a case shows of a decision: no timestamps, ids or paths that could move.
#[derive(Debug, Serialize)]
struct View {
    verdict: String,
    risk: String,
    responsible: Vec<String>,
    rules: Vec<RuleView>,
    rejections: Vec<String>,
    approvals: Vec<String>,
    overrides: Vec<String>,
    suggested_reviewers: Vec<String>,
    findings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RuleView {
    name: String,
    applies: bool,
    satisfied: bool,
    why: Vec<String>,
    /// Only for rules that apply: a rule that does not has nothing to count.
    #[serde(flatten)]
    outcome: Option<RuleCount>,
}

#[derive(Debug, Serialize)]
struct RuleCount {
    approvals: Vec<String>,
    missing: u32,
    eligible: Vec<String>,
    suggested: Vec<String>,
    owner_groups: Vec<String>,
}

fn with_comment(person: &str, comment: &str) -> String {
    if comment.is_empty() { person.to_owned() } else { format!("{person}: {comment}") }
}

impl View {
    fn of(decision: &Decision) -> View {
        View {
            verdict: decision.verdict.as_str().to_owned(),
            risk: decision.risk.level.to_string(),
            responsible: decision
                .responsible
                .iter()
                .map(|entry| {
                    let roles: Vec<&str> = entry.roles.iter().map(|role| role.as_str()).collect();
                    format!("{} ({}): {}", entry.id, entry.level, roles.join(", "))
                })
                .collect(),
            rules: decision
                .rules
                .iter()
                .map(|rule| RuleView {
                    name: rule.name.clone(),
                    applies: rule.applies,
                    satisfied: rule.satisfied,
                    why: rule.why.clone(),
                    outcome: rule.applies.then(|| RuleCount {
                        approvals: rule.approvals.clone(),
                        missing: rule.missing,
                        eligible: rule.eligible.clone(),
                        suggested: rule.suggested.clone(),
                        owner_groups: rule
                            .owner_groups
                            .iter()
                            .map(|group| {
                                format!(
                                    "{} [{}] {}",
                                    group.owners,
                                    group.paths.join(", "),
                                    group
                                        .covered_by
                                        .as_ref()
                                        .map_or("uncovered".to_owned(), |by| format!("covered by {by}"))
                                )
                            })
                            .collect(),
                    }),
                })
                .collect(),
            rejections: decision.rejections.iter().map(|entry| with_comment(&entry.person, &entry.comment)).collect(),
            approvals: decision.approvals.iter().map(|entry| with_comment(&entry.person, &entry.comment)).collect(),
            overrides: decision.overrides.iter().map(|entry| with_comment(&entry.person, &entry.comment)).collect(),
            suggested_reviewers: decision.suggested_reviewers.clone(),
            findings: decision
                .findings
                .iter()
                .map(|finding| format!("{}: {}", finding.code, finding.message))
                .collect(),
        }
    }
}

/// Decides one case, snapshots what it shows, and checks the verdict the case is about.
#[track_caller]
fn case(name: &str, verdict: &str, policy: &str, change: ChangeBuilder, attestations: &[Att]) {
    let view = View::of(&check(policy, change.build(), attestations));
    insta::assert_yaml_snapshot!(name, view);
    assert_eq!(view.verdict, verdict, "case {name}: {view:#?}");
}

/// A policy of one rule, `gated`, that needs one approval when the predicate holds. A change
/// it does not apply to is allowed here (`no_rule_applies = "allow"`), so each case shows the
/// predicate alone; `no_rule_applies_blocks_by_default` shows the default.
fn when(predicate: &str) -> String {
    format!(
        "version = 1\n\n[approvals]\nno_rule_applies = \"allow\"\n\n[[rule]]\nname = \"gated\"\nwhen = {{ {predicate} }}\nrequires = {{ count = 1 }}\n"
    )
}

/// A policy of one rule, `review`, that always applies with these requirements.
fn requires(requirement: &str) -> String {
    format!("version = 1\n\n[[rule]]\nname = \"review\"\nrequires = {{ {requirement} }}\n")
}

#[test]
fn the_fixture_configuration_loads() {
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people_toml()),
        services: Some(SourceFile::new("services.toml", SERVICES)),
        policy: SourceFile::new("policy.toml", STANDARD),
        codeowners: Some(SourceFile::new(".github/CODEOWNERS", CODEOWNERS)),
    };
    let (config, findings) = Config::load(&files).expect("valid fixture");
    assert_eq!(config.directory.people().len(), 5);
    let findings: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        findings,
        ["warning[unresolved-owner]: .github/CODEOWNERS:5: CODEOWNERS owner @ghost matches nobody in people.toml"]
    );
}

// 1. Predicates of `when`: one case where the rule applies, one where it does not.

#[test]
fn when_ai_and_agents() {
    let on = when("ai_assisted = true");
    case("ai_assisted_true_applies_to_assisted", "blocked", &on, assisted("bob", DOCS), &[]);
    case("ai_assisted_true_skips_human", "allowed", &on, human("bob", DOCS), &[]);
    let off = when("ai_assisted = false");
    case("ai_assisted_false_applies_to_human", "blocked", &off, human("bob", DOCS), &[]);
    case("ai_assisted_false_skips_assisted", "allowed", &off, assisted("bob", DOCS), &[]);

    let agent = when("agent_authored = true");
    let by_agent = change().commit_by("ops-agent", "bob", HUMAN_MESSAGE).file(DOCS, 10, 2);
    case("agent_authored_applies_to_agent_commit", "blocked", &agent, by_agent, &[]);
    case("agent_authored_skips_human", "allowed", &agent, assisted("bob", DOCS), &[]);
}

#[test]
fn when_author() {
    let below = when("author_level_below = \"senior\"");
    case("author_level_below_applies_to_junior", "blocked", &below, human("bob", DOCS), &[]);
    case("author_level_below_skips_senior", "allowed", &below, human("alice", DOCS), &[]);
    let with_junior = change().commit("alice", "Fix\n\nCo-authored-by: Bob Tran <bob@shop.example>").file(DOCS, 1, 1);
    case("author_level_below_judges_least_senior", "blocked", &below, with_junior, &[]);
    let stranger = human("Mallory <mallory@elsewhere.example>", DOCS);
    case("author_level_below_applies_to_unknown", "blocked", &below, stranger, &[]);
    let agent_only = change().commit("ops-agent", HUMAN_MESSAGE).file(DOCS, 1, 1);
    case("author_level_below_applies_without_human", "blocked", &below, agent_only, &[]);

    let at_least = when("author_level_at_least = \"senior\"");
    case("author_level_at_least_applies_to_staff", "blocked", &at_least, human("carol", DOCS), &[]);
    case("author_level_at_least_skips_junior", "allowed", &at_least, human("bob", DOCS), &[]);

    let teams = when("author_in_teams = [\"platform\"]");
    case("author_in_teams_applies_to_member", "blocked", &teams, human("carol", DOCS), &[]);
    case("author_in_teams_skips_outsider", "allowed", &teams, human("alice", DOCS), &[]);
    case("author_in_teams_counts_requester", "blocked", &teams, human("alice", DOCS).requester("dave"), &[]);
}

#[test]
fn when_paths_and_services() {
    let paths = when("paths = [\"services/**\"]");
    case("paths_applies_when_one_matches", "blocked", &paths, human("bob", DOCS).file(CART, 1, 0), &[]);
    case("paths_skips_when_none_matches", "allowed", &paths, human("bob", DOCS), &[]);

    let only = when("only_paths = [\"docs/**\"]");
    case("only_paths_applies_when_all_match", "blocked", &only, human("bob", DOCS).file("docs/faq.md", 3, 0), &[]);
    case("only_paths_skips_when_one_is_outside", "allowed", &only, human("bob", DOCS).file(CART, 1, 0), &[]);
    case("only_paths_skips_empty_change", "allowed", &only, change().commit("bob", HUMAN_MESSAGE), &[]);

    let services = when("services = [\"checkout\"]");
    case("services_applies_to_service_path", "blocked", &services, human("bob", PAYMENTS), &[]);
    case("services_skips_other_service", "allowed", &services, human("bob", DOCS), &[]);

    let tier = when("tier_at_most = 1");
    case("tier_at_most_applies_to_tier_0", "blocked", &tier, human("bob", CART), &[]);
    case("tier_at_most_skips_tier_3", "allowed", &tier, human("bob", DOCS), &[]);
    case("tier_at_most_skips_no_service", "allowed", &tier, human("bob", "tools/lint.sh"), &[]);
}

#[test]
fn when_size_and_risk() {
    let risk = when("risk_at_least = \"high\"");
    case("risk_at_least_applies_to_tier_0", "blocked", &risk, human("bob", CART), &[]);
    case("risk_at_least_skips_medium", "allowed", &risk, human("bob", DOCS), &[]);

    let destructive = when("destructive = true");
    let drop = human("bob", "db/migrations/0042_drop_orders.sql").drops_table();
    case("destructive_applies_to_dropped_table", "blocked", &destructive, drop, &[]);
    case("destructive_skips_harmless", "allowed", &destructive, human("bob", "db/migrations/0043_add.sql"), &[]);

    let lines = when("lines_changed_over = 100");
    case("lines_changed_over_applies_above", "blocked", &lines, change().commit("bob", "Big").file(DOCS, 80, 21), &[]);
    case("lines_changed_over_skips_at_limit", "allowed", &lines, change().commit("bob", "Big").file(DOCS, 60, 40), &[]);

    // AI-written lines: the human commit's lines do not count.
    let mixed = || {
        change()
            .commit("bob", "Write the cart")
            .commit("bob", AI_MESSAGE)
            .file(CART, 30, 0)
            .file(DOCS, 10, 0)
            .wrote(1, CART, 1, 10)
            .wrote(2, CART, 11, 30)
            .wrote(2, DOCS, 1, 10)
    };
    let ai_lines = when("ai_lines_over = 25");
    case("ai_lines_over_applies_above", "blocked", &ai_lines, mixed(), &[]);
    case("ai_lines_over_skips_at_limit", "allowed", &when("ai_lines_over = 30"), mixed(), &[]);
    let tier0 = when("ai_lines_over = 25, ai_lines_tier_at_most = 0");
    case("ai_lines_over_in_tier_0_counts_only_tier_0", "allowed", &tier0, mixed(), &[]);
    let share = when("ai_share_over = 0.7");
    case("ai_share_over_applies_above", "blocked", &share, mixed(), &[]);
    case("ai_share_over_skips_below", "allowed", &when("ai_share_over = 0.8"), mixed(), &[]);
    // Lines nobody read: the rule applies (fail-safe).
    let unread = change().commit("bob", "Write the cart").file(CART, 30, 0);
    case("ai_lines_over_applies_when_unknown", "blocked", &ai_lines, unread, &[]);

    // Recent fixes of the files: a count read short of the window is unknown, and the rule applies.
    let fixed = when("recent_fixes_at_least = 3");
    case("recent_fixes_at_least_applies_at_count", "blocked", &fixed, human("bob", CART).recent_fixes(3, true), &[]);
    case("recent_fixes_at_least_skips_below", "allowed", &fixed, human("bob", CART).recent_fixes(2, true), &[]);
    case("recent_fixes_applies_when_cut_short", "blocked", &fixed, human("bob", CART).recent_fixes(0, false), &[]);
    case("recent_fixes_applies_when_unread", "blocked", &fixed, human("bob", CART), &[]);

    let untested = when("untested = true");
    case("untested_applies_to_code_alone", "blocked", &untested, human("bob", "src/cart.rs"), &[]);
    let tested = human("bob", "src/cart.rs").file("tests/cart.rs", 5, 0);
    case("untested_skips_code_with_tests", "allowed", &untested, tested, &[]);
    case("untested_skips_documents", "allowed", &untested, human("bob", DOCS), &[]);

    let files = when("files_changed_over = 2");
    let three = human("bob", DOCS).file("docs/a.md", 1, 0).file("docs/b.md", 1, 0);
    case("files_changed_over_applies_above", "blocked", &files, three, &[]);
    case("files_changed_over_skips_at_limit", "allowed", &files, human("bob", DOCS).file("docs/a.md", 1, 0), &[]);
}

#[test]
fn when_environment_and_branch() {
    let environments = when("environments = [\"production\"]");
    case("environments_applies_to_listed", "blocked", &environments, human("bob", DOCS), &[]);
    let staging = human("bob", DOCS).environment("staging");
    case("environments_skips_unlisted", "allowed", &environments, staging, &[]);

    let branches = when("target_branches = [\"main\", \"release/*\"]");
    case("target_branches_applies_to_match", "blocked", &branches, human("bob", DOCS).target("release/2.1"), &[]);
    case("target_branches_skips_other", "allowed", &branches, human("bob", DOCS).target("feature/cart"), &[]);
    case("target_branches_applies_when_unknown", "blocked", &branches, human("bob", DOCS), &[]);
}

#[test]
fn when_composition() {
    let all = when("ai_assisted = true, author_level_below = \"senior\"");
    case("all_applies_when_every_part_holds", "blocked", &all, assisted("bob", DOCS), &[]);
    case("all_skips_when_one_part_fails", "allowed", &all, assisted("alice", DOCS), &[]);

    let any = when("any = [{ ai_assisted = true }, { tier_at_most = 0 }]");
    case("any_applies_by_first", "blocked", &any, assisted("bob", DOCS), &[]);
    case("any_applies_by_second", "blocked", &any, human("bob", CART), &[]);
    case("any_skips_when_none_holds", "allowed", &any, human("bob", DOCS), &[]);

    let not = when("not = { only_paths = [\"docs/**\"] }");
    case("not_applies_when_inner_fails", "blocked", &not, human("bob", CART), &[]);
    case("not_skips_when_inner_holds", "allowed", &not, human("bob", DOCS), &[]);
}

// 2. Requirements.

#[test]
fn requirements() {
    let two = requires("count = 2");
    case("count_two_with_one_approval", "blocked", &two, human("dave", DOCS), &[approve("alice")]);
    case("count_two_with_two_approvals", "allowed", &two, human("dave", DOCS), &[approve("alice"), approve("carol")]);

    let senior = requires("count = 1, min_level = \"senior\"");
    case("min_level_junior_does_not_count", "blocked", &senior, human("dave", DOCS), &[approve("bob")]);
    case("min_level_senior_counts", "allowed", &senior, human("dave", DOCS), &[approve("alice")]);

    let platform = requires("count = 1, teams = [\"platform\"]");
    case("teams_outsider_does_not_count", "blocked", &platform, human("dave", DOCS), &[approve("alice")]);
    case("teams_member_counts", "allowed", &platform, human("dave", DOCS), &[approve("erin")]);

    let erin = requires("count = 1, people = [\"erin\"]");
    case("people_unlisted_does_not_count", "blocked", &erin, human("dave", DOCS), &[approve("carol")]);
    case("people_listed_counts", "allowed", &erin, human("dave", DOCS), &[approve("erin")]);
    let only_author = requires("count = 1, people = [\"dave\"]");
    case("people_only_the_author", "blocked", &only_author, human("dave", DOCS), &[approve("carol")]);
}

/// An informed review: the approval service saw the reviewer open every changed file. Only the
/// service's word counts; a statement signed with a person's own key could claim anything.
#[test]
fn informed_reviews() {
    let informed = format!("{}{}", requires("count = 1, informed = true"), server_keys());
    let opened_all = approve("alice").opened(&[DOCS, CART]).signed_by(SERVER);
    let change = || human("dave", CART).file(DOCS, 5, 0);
    case("informed_every_file_opened", "allowed", &informed, change(), &[opened_all]);
    let opened_one = approve("alice").opened(&[CART]).signed_by(SERVER);
    case("informed_one_file_unopened", "blocked", &informed, change(), &[opened_one]);
    let by_digest = approve("alice").opened_every_file().signed_by(SERVER);
    case("informed_every_file_opened_by_digest", "allowed", &informed, change(), &[by_digest]);
    let claimed = approve("alice").opened(&[DOCS, CART]);
    case("informed_claimed_with_own_key", "blocked", &informed, change(), &[claimed]);
    let uninformed = format!("{}{}", requires("count = 1"), server_keys());
    case("uninformed_rule_takes_any_approval", "allowed", &uninformed, change(), &[approve("alice")]);
}

/// A review dismissed on GitHub: the approval service withdraws the approval; a rejection stands.
#[test]
fn withdrawn_approvals() {
    let policy = format!("{}{}", requires("count = 1"), server_keys());
    let withdraw =
        |person: &'static str, age: i64| statement(person, Verdict::Withdraw, "").aged(age).signed_by(SERVER);
    let approved_then_withdrawn = [approve("alice").aged(7_200), withdraw("alice", 3_600)];
    case("withdrawn_approval_no_longer_counts", "blocked", &policy, human("dave", DOCS), &approved_then_withdrawn);
    let approved_again = [approve("alice").aged(7_200), withdraw("alice", 3_600), approve("alice").aged(60)];
    case("approval_after_a_withdrawal_counts", "allowed", &policy, human("dave", DOCS), &approved_again);
    let rejected = [reject("alice", "no").aged(7_200), withdraw("alice", 3_600), approve("carol")];
    case("withdrawal_leaves_a_rejection_standing", "blocked", &policy, human("dave", DOCS), &rejected);
    let others = [approve("alice").aged(7_200), withdraw("carol", 3_600)];
    case("withdrawal_touches_only_its_person", "allowed", &policy, human("dave", DOCS), &others);
}

#[test]
fn owners() {
    let owners = requires("count = 1, owners = true");
    case("owners_two_groups_one_approver", "allowed", &owners, human("dave", CART), &[approve("alice")]);
    case("owners_approval_by_non_owner", "blocked", &owners, human("dave", CART), &[approve("carol")]);
    case("owners_codeowners_and_service_differ", "blocked", &owners, human("dave", PAYMENTS), &[approve("alice")]);
    let both = [approve("alice"), approve("carol")];
    case("owners_codeowners_and_service_covered", "allowed", &owners, human("dave", PAYMENTS), &both);
    case("owners_catch_all_line", "allowed", &owners, human("dave", "tools/lint.sh"), &[approve("erin")]);
    case("owners_none_defined", "allowed", &owners, human("dave", DOCS), &[approve("carol")]);
    case("owners_unresolved_codeowner", "blocked", &owners, human("dave", "scripts/deploy.sh"), &[approve("carol")]);

    let senior_owners = requires("count = 1, owners = true, min_level = \"senior\"");
    case("owners_only_owner_is_the_author", "blocked", &senior_owners, human("alice", CART), &[approve("erin")]);
}

// 3. Exclusions that no policy can change.

#[test]
fn exclusions() {
    case("counted_approval", "allowed", TWO_PERSON, human("bob", DOCS), &[approve("alice")]);
    case("author_cannot_approve", "blocked", TWO_PERSON, human("bob", DOCS), &[approve("bob")]);
    let committed = change().commit_by("bob", "dave", HUMAN_MESSAGE).file(DOCS, 10, 2);
    case("committer_cannot_approve", "blocked", TWO_PERSON, committed, &[approve("dave")]);
    let co_authored = change().commit("bob", CAROL_CO_AUTHORED).file(DOCS, 10, 2);
    case("co_author_cannot_approve", "blocked", TWO_PERSON, co_authored, &[approve("carol")]);
    let requested = human("bob", DOCS).requester("erin@shop.example");
    case("requester_cannot_approve", "blocked", TWO_PERSON, requested, &[approve("erin")]);
    case("agent_cannot_approve", "blocked", TWO_PERSON, human("bob", DOCS), &[approve("ops-agent")]);
    case("unknown_person_cannot_approve", "blocked", TWO_PERSON, human("bob", DOCS), &[approve("mallory")]);
    let staging = approve("alice").environment("staging");
    case("approval_for_another_environment", "blocked", TWO_PERSON, human("bob", DOCS), &[staging]);
    let forged = approve("alice").signed_by("carol");
    case("approval_signed_with_wrong_key", "blocked", TWO_PERSON, human("bob", DOCS), &[forged]);
    let elsewhere =
        approve("alice").fingerprint("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    case("approval_for_another_fingerprint", "blocked", TWO_PERSON, human("bob", DOCS), &[elsewhere]);
}

// 4. Rejections.

#[test]
fn rejections() {
    let vetoed = [approve("alice"), reject("carol", "breaks refunds")];
    case("rejection_blocks", "blocked", TWO_PERSON, human("bob", DOCS), &vetoed);
    let lifted = [reject("carol", "breaks refunds").aged(7_200), approve("carol").aged(600)];
    case("later_approval_lifts_rejection", "allowed", TWO_PERSON, human("bob", DOCS), &lifted);
    let withdrawn = [approve("carol").aged(7_200), reject("carol", "found a bug").aged(600)];
    case("later_rejection_withdraws_approval", "blocked", TWO_PERSON, human("bob", DOCS), &withdrawn);
    let advisory = format!("{TWO_PERSON}\n[approvals]\nrejections_block = false\n");
    case("rejections_do_not_block_when_off", "allowed", &advisory, human("bob", DOCS), &vetoed);
    let own = [approve("alice"), reject("bob", "not ready")];
    // An author who rejects their own change stops it: a rejection stands whoever made it.
    case("author_rejection_blocks", "blocked", TWO_PERSON, human("bob", DOCS), &own);
    // Any reviewer may veto, not only those who could satisfy a rule.
    let senior = requires("count = 1, min_level = \"senior\"");
    let junior_veto = [approve("alice"), reject("bob", "breaks refunds")];
    case("rejection_by_junior_blocks", "blocked", &senior, human("dave", DOCS), &junior_veto);
    // A rejection is a statement like an approval: past max_age_days it no longer counts.
    let fortnight = format!("{TWO_PERSON}\n[approvals]\nmax_age_days = 14\n");
    let stale = [approve("alice"), reject("carol", "breaks refunds").aged(15 * DAY)];
    case("rejection_older_than_max_age_still_blocks", "blocked", &fortnight, human("bob", DOCS), &stale);
}

// 5. Expiry and clocks.

#[test]
fn expiry() {
    let fortnight = format!("{TWO_PERSON}\n[approvals]\nmax_age_days = 14\n");
    let old = [approve("alice").aged(15 * DAY)];
    case("approval_older_than_max_age", "blocked", &fortnight, human("bob", DOCS), &old);
    case("approval_exactly_max_age", "allowed", &fortnight, human("bob", DOCS), &[approve("alice").aged(14 * DAY)]);
    case("approval_without_max_age", "allowed", TWO_PERSON, human("bob", DOCS), &[approve("alice").aged(400 * DAY)]);
    case("approval_beyond_clock_skew", "blocked", TWO_PERSON, human("bob", DOCS), &[approve("alice").aged(-301)]);
    case("approval_within_clock_skew", "allowed", TWO_PERSON, human("bob", DOCS), &[approve("alice").aged(-300)]);

    let old_head = [approve("alice").head("9999999999999999999999999999999999999999")];
    case("approval_of_older_head_kept_on_rebase", "allowed", TWO_PERSON, human("bob", DOCS), &old_head);
    let strict = format!("{TWO_PERSON}\n[approvals]\nkeep_on_rebase = false\n");
    case("approval_of_older_head_without_rebase", "blocked", &strict, human("bob", DOCS), &old_head);
}

// 6. Break-glass.

#[test]
fn break_glass_overrides() {
    let glass = format!("{TWO_PERSON}{BREAK_GLASS}{}", server_keys());
    let hotfix = "checkout is down; hotfix";
    // An override signed with the person's own key, put in the ref by hand: never break-glass.
    let by_hand = [break_glass("alice", hotfix).signed_by("alice")];
    case("override_signed_with_own_key_is_ignored", "blocked", &glass, human("dave", DOCS), &by_hand);
    case("override_with_invisible_reason", "blocked", &glass, human("dave", DOCS), &[break_glass("alice", "\u{200b}")]);
    case("override_by_senior", "overridden", &glass, human("dave", DOCS), &[break_glass("alice", hotfix)]);
    case("override_by_junior_is_ignored", "blocked", &glass, human("dave", DOCS), &[break_glass("bob", hotfix)]);
    case("override_without_reason", "blocked", &glass, human("dave", DOCS), &[break_glass("alice", "")]);
    case("override_with_blank_reason", "blocked", &glass, human("dave", DOCS), &[break_glass("alice", "  ")]);
    let optional = glass.replace("reason_required = true", "reason_required = false");
    case("override_reason_optional", "overridden", &optional, human("dave", DOCS), &[break_glass("alice", "")]);
    let disabled = format!("{TWO_PERSON}{}", server_keys());
    case("override_disabled", "blocked", &disabled, human("dave", DOCS), &[break_glass("alice", hotfix)]);
    case("override_by_the_author", "overridden", &glass, human("alice", DOCS), &[break_glass("alice", hotfix)]);
    case("override_by_agent", "blocked", &glass, human("dave", DOCS), &[break_glass("ops-agent", hotfix)]);
    let needless = [approve("carol"), break_glass("alice", hotfix)];
    case("override_of_allowed_change", "allowed", &glass, human("dave", DOCS), &needless);
    let over_veto = [approve("carol"), reject("erin", "wait for the freeze"), break_glass("alice", hotfix)];
    case("override_of_rejection", "overridden", &glass, human("dave", DOCS), &over_veto);
}

// 7. Owner groups and suggested reviewers under the documented policy.

#[test]
fn suggestions() {
    case("standard_ai_junior_on_checkout", "blocked", STANDARD, assisted("bob", CART), &[]);
    case("standard_ai_junior_approved_by_owner", "allowed", STANDARD, assisted("bob", CART), &[approve("alice")]);
    let gate = || assisted("dave", CART).file(".countersign/policy.toml", 3, 1);
    case("standard_gate_config_and_checkout", "blocked", STANDARD, gate(), &[]);
    case("standard_gate_config_half_approved", "blocked", STANDARD, gate(), &[approve("alice")]);
    case("standard_gate_config_approved", "allowed", STANDARD, gate(), &[approve("alice"), approve("carol")]);
    let owners = requires("count = 1, owners = true, min_level = \"senior\"");
    case("owner_groups_need_two_people", "blocked", &owners, human("dave", PAYMENTS), &[]);
}

// 8. Who may review, who may break the glass: the one rule the CLI and the server share.

#[test]
fn who_may_review() {
    let config = config(TWO_PERSON);
    let reviewed =
        change().commit_by("bob", "dave", CAROL_CO_AUTHORED).file(DOCS, 1, 1).requester("erin@shop.example").build();
    let responsible = analyze(&config, &reviewed).responsible;
    let table: [(&str, Option<&str>); 7] = [
        ("alice", None),
        ("bob", Some("own-change")),
        ("dave", Some("own-change")),
        ("carol", Some("co-author")),
        ("erin", Some("own-change")),
        ("ops-agent", Some("agent")),
        ("mallory", Some("unknown-person")),
    ];
    for (person, expected) in table {
        let refusal = review_refused(&config, &responsible, person);
        assert_eq!(refusal.as_ref().map(ReviewRefusal::code), expected, "{person}: {refusal:?}");
    }

    // A co-author who also asks for the deployment is refused as their own change.
    let requested = change().commit("bob", CAROL_CO_AUTHORED).file(DOCS, 1, 1).requester("carol").build();
    let responsible = analyze(&config, &requested).responsible;
    let refusal = review_refused(&config, &responsible, "carol");
    assert_eq!(refusal.as_ref().map(ReviewRefusal::code), Some("own-change"), "{refusal:?}");
}

#[test]
fn who_may_break_the_glass() {
    let enabled = config(&format!("{TWO_PERSON}{BREAK_GLASS}"));
    let disabled = config(TWO_PERSON);
    let table: [(&Config, &str, &str, Option<&str>); 8] = [
        (&enabled, "alice", "checkout is down", None),
        (&enabled, "carol", "checkout is down", None),
        (&enabled, "erin", "checkout is down", None),
        (&enabled, "dave", "checkout is down", Some("level-too-low")),
        (&enabled, "bob", "checkout is down", Some("level-too-low")),
        (&enabled, "alice", "", Some("reason-required")),
        (&enabled, "alice", " \n ", Some("reason-required")),
        (&disabled, "erin", "checkout is down", Some("break-glass-disabled")),
    ];
    for (config, person, reason, expected) in table {
        let idx = config.directory.person_index(person).expect("a fixture person");
        let refusal = override_refused(config, idx, reason);
        assert_eq!(refusal.as_ref().map(OverrideRefusal::code), expected, "{person} {reason:?}: {refusal:?}");
    }
    let idx = enabled.directory.person_index("bob").expect("bob");
    assert_eq!(
        override_refused(&enabled, idx, "x").map(|refusal| refusal.to_string()).as_deref(),
        Some("bob is junior; break-glass needs senior or above (break_glass.min_level)")
    );
}

// 9. Every commit declares AI assistance or its absence.

#[test]
fn declaration() {
    let declare = format!("{TWO_PERSON}\n[ai]\nrequire_declaration = true\n");
    case("undeclared_commit_blocks", "blocked", &declare, human("bob", DOCS), &[approve("alice")]);
    let none = change().commit("bob", "Fix the cart total\n\nAssisted-by: none").file(DOCS, 1, 1);
    case("assisted_by_none_passes", "allowed", &declare, none, &[approve("alice")]);
    case("ai_marker_declares", "allowed", &declare, assisted("bob", DOCS), &[approve("alice")]);
    let mixed = change().commit("bob", "First\n\nAssisted-by: none").commit("bob", "Second").file(DOCS, 1, 1);
    case("one_commit_undeclared", "blocked", &declare, mixed, &[approve("alice")]);
    let merged = change().commit("bob", "First\n\nAssisted-by: none").merge("bob").file(DOCS, 1, 1);
    case("merge_commit_need_not_declare", "allowed", &declare, merged, &[approve("alice")]);
}

/// The server's path, `analyze` once then `decide` as attestations arrive, decides as `evaluate`.
#[test]
fn decide_reuses_the_analysis() {
    let config = config(STANDARD);
    let change = assisted("bob", CART).build();
    let analysis = analyze(&config, &change);
    for attestations in [vec![], vec![approve("carol")], vec![approve("carol"), approve("alice")]] {
        let found = sign_all(&change, &attestations);
        let staged =
            decide(&config, &analysis, &check_attestations(&config, &analysis.change.fingerprint, &found), NOW);
        let direct = evaluate(&config, &change, &found, NOW);
        assert_eq!(format!("{:?}", View::of(&staged)), format!("{:?}", View::of(&direct)));
    }
}

// 10. Ways around the gate, closed: each case would allow its change if its defence broke.

#[test]
fn closed_bypasses() {
    // A change no rule speaks about is blocked unless the policy says otherwise.
    let unconditional_missing =
        "version = 1\n\n[[rule]]\nname = \"gated\"\nwhen = { tier_at_most = 0 }\nrequires = { count = 1 }\n";
    case("no_rule_applies_blocks_by_default", "blocked", unconditional_missing, human("dave", DOCS), &[]);

    // `not` cannot switch off the fail-safe of an unknown target branch.
    let release_only = when("not = { target_branches = [\"release/*\"] }");
    case("not_of_unknown_target_branch_still_applies", "blocked", &release_only, human("dave", DOCS), &[]);
    case("not_of_known_target_branch", "allowed", &release_only, human("dave", DOCS).target("release/1"), &[]);

    // Unknown responsible humans block until the directory knows them; plus-addressing a real
    // person's address makes nobody that person.
    let alias = change().commit("Alice <alice+alt@shop.example>", HUMAN_MESSAGE).file(DOCS, 1, 1);
    case("plus_addressed_author_blocks", "blocked", TWO_PERSON, alias, &[approve("alice")]);
    let lowest = format!("{TWO_PERSON}\n[approvals]\nunknown_people = \"lowest-level\"\n");
    let alias = change().commit("Alice <alice+alt@shop.example>", HUMAN_MESSAGE).file(DOCS, 1, 1);
    case("unknown_author_ranked_lowest_when_configured", "allowed", &lowest, alias, &[approve("alice")]);
    case(
        "unknown_requester_blocks",
        "blocked",
        TWO_PERSON,
        human("dave", DOCS).requester("mallory"),
        &[approve("alice")],
    );

    // A person's own e-mail under a bot's name is still that person: she cannot approve.
    let disguised = change().commit("claude[bot] <alice@shop.example>", HUMAN_MESSAGE).file(DOCS, 1, 1);
    case("person_email_with_bot_name_is_the_person", "blocked", TWO_PERSON, disguised, &[approve("alice")]);

    // A rejection stands whoever its author becomes, and does not expire.
    let amended = change().commit("dave", CAROL_CO_AUTHORED).file(DOCS, 1, 1);
    case(
        "rejection_stands_after_its_author_becomes_co_author",
        "blocked",
        TWO_PERSON,
        amended,
        &[reject("carol", "wrong total").aged(2 * 3_600), approve("erin")],
    );
    let ages = format!("{TWO_PERSON}\n[approvals]\nmax_age_days = 14\n");
    case(
        "rejection_does_not_expire",
        "blocked",
        &ages,
        human("dave", DOCS),
        &[reject("carol", "wrong total").aged(60 * DAY), approve("erin")],
    );

    // A rollback blocks unless a rule allows rollbacks, with its own requirement.
    case("rollback_blocks", "blocked", TWO_PERSON, human("dave", DOCS).rollback(3), &[approve("alice")]);
    let rollbacks = format!(
        "{TWO_PERSON}\n[[rule]]\nname = \"rollbacks\"\nwhen = {{ rollback = true }}\nrequires = {{ count = 1, min_level = \"staff\" }}\n"
    );
    case(
        "rollback_allowed_by_a_rule_needs_its_requirement",
        "blocked",
        &rollbacks,
        human("dave", DOCS).rollback(3),
        &[approve("alice")],
    );
    case("rollback_allowed_by_a_rule", "allowed", &rollbacks, human("dave", DOCS).rollback(3), &[approve("carol")]);

    // An approval counts for a decision that depends on a plan only if it names the plan.
    let planned = || human("dave", DOCS).plan("sha256:aaaa");
    case("approval_without_the_plan", "blocked", TWO_PERSON, planned(), &[approve("alice")]);
    case("approval_of_another_plan", "blocked", TWO_PERSON, planned(), &[approve("alice").plans(&["sha256:bbbb"])]);
    case("approval_naming_the_plan", "allowed", TWO_PERSON, planned(), &[approve("alice").plans(&["sha256:aaaa"])]);
}

#[test]
fn agents_answer_through_their_operators() {
    let people = people_toml()
        .replace("[[agent]]\nid = \"ops-agent\"", "[[agent]]\nid = \"ops-agent\"\noperators = [\"carol\"]");
    assert!(people.contains("operators"), "{people}");
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people),
        services: Some(SourceFile::new("services.toml", SERVICES)),
        policy: SourceFile::new("policy.toml", TWO_PERSON),
        codeowners: None,
    };
    let (config, _) = Config::load(&files).expect("valid configuration");
    let agent_change = change().commit("ops-agent", HUMAN_MESSAGE).file(DOCS, 1, 1).build();
    let signed = sign_all(&agent_change, &[approve("carol"), approve("erin")]);
    let decision = evaluate(&config, &agent_change, &signed, NOW);
    let responsible: Vec<&str> = decision.responsible.iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(responsible, ["carol"]);
    assert_eq!(decision.approvals.iter().map(|approval| approval.person.as_str()).collect::<Vec<_>>(), ["erin"]);
}

#[test]
fn configuration_refuses_what_would_let_one_person_be_two() {
    let alice_key = key(1).public_key().to_openssh().expect("encodable key");
    let people = format!(
        "levels = [\"junior\", \"senior\"]\n\n[[person]]\nid = \"alice\"\nemails = [\"alice@shop.example\"]\nlevel = \"senior\"\nkeys = [\"{alice_key}\"]\n\n[[person]]\nid = \"alias\"\nemails = [\"alias@shop.example\"]\nlevel = \"junior\"\nkeys = [\"{alice_key}\"]\n\n[[agent]]\nid = \"bot\"\noperators = [\"nobody\"]\n"
    );
    let files = ConfigFiles {
        people: SourceFile::new("people.toml", people),
        services: None,
        policy: SourceFile::new("policy.toml", TWO_PERSON),
        codeowners: None,
    };
    let errors: Vec<String> = match Config::load(&files) {
        Ok(_) => panic!("a key shared by two people must be refused"),
        Err(errors) => errors.iter().map(|error| format!("{}:{}: {}", error.file, error.line, error.message)).collect(),
    };
    assert_eq!(
        errors,
        [
            "people.toml:13: this key is also listed under `alice`; one key would let either person sign as the other",
            "people.toml:17: operator `nobody` is not a person of this file",
        ]
    );
}

/// `--requester` names one entry of the directory or nobody: a GitHub login equal to someone
/// else's id is ambiguous, and a login inside a noreply address is that person's.
#[test]
fn requesters_resolve_unambiguously() {
    let people = "levels = [\"junior\", \"senior\"]\n\n\
        [[person]]\nid = \"alice\"\nemails = [\"alice@shop.example\"]\nlevel = \"senior\"\n\n\
        [[person]]\nid = \"mallory\"\nemails = [\"mallory@shop.example\"]\ngithub = \"alice\"\nlevel = \"junior\"\n\n\
        [[person]]\nid = \"bob\"\nemails = [\"1234+bobt@users.noreply.github.com\"]\nlevel = \"junior\"\n";
    let directory = countersign_core::directory::Directory::parse(&SourceFile::new("people.toml", people))
        .expect("valid directory");
    let resolved = |key: &str| match directory.requester(key) {
        Ok(member) => member.id().to_owned(),
        Err(error) => format!("error: {error}"),
    };
    let table = [
        ("alice", "error: requester `alice` names alice and mallory; write github:LOGIN, email:ADDRESS or id:ID"),
        ("id:alice", "alice"),
        ("github:alice", "mallory"),
        ("bobt", "bob"),
        ("github:bobt", "bob"),
        ("email:alice@shop.example", "alice"),
        ("ALICE@shop.example", "alice"),
        ("github:nobody", "error: requester `github:nobody` is not in people.toml"),
    ];
    for (key, expected) in table {
        assert_eq!(resolved(key), expected, "{key}");
    }
}

/// A deployment range's verdict over its merged changes: a rejection of the whole range, or an
/// unreadable attestation of a part (it may be a rejection), blocks however the rest is approved.
#[test]
fn a_range_of_merged_changes_is_vetoed_by_any_rejection() {
    use countersign_core::evaluate::{MergedChangeFacts, MergedKind, combine};
    let config = config(TWO_PERSON);
    let cart = change().commit("bob", HUMAN_MESSAGE).file(CART, 3, 1).build();
    let docs = change().commit("dave", "Document the cart").file(DOCS, 2, 0).build();
    let whole = change()
        .commit("bob", HUMAN_MESSAGE)
        .commit("dave", "Document the cart")
        .file(CART, 3, 1)
        .file(DOCS, 2, 0)
        .build();
    let decide = |change: &ChangeInput, attestations: &[Att], unreadable: bool| {
        let mut found = sign_all(change, attestations);
        if unreadable {
            found.push(FoundAttestation::unreadable(
                "refs/countersign/attestations:aa/x.json",
                "larger than 65536 bytes",
            ));
        }
        evaluate(&config, change, &found, NOW)
    };
    let facts = |title: &str| MergedChangeFacts {
        kind: MergedKind::Merge,
        title: title.to_owned(),
        commits: vec!["f".repeat(40)],
        new_content: Vec::new(),
        compared_with: None,
        reviewed: true,
    };
    let parts = |unreadable_docs: bool| {
        vec![
            (facts("Merge cart"), decide(&cart, &[approve("alice")], false)),
            (facts("Merge docs"), decide(&docs, &[approve("alice")], unreadable_docs)),
        ]
    };
    let verdict = |decision: &Decision| decision.verdict.as_str().to_owned();

    // Each part approved: allowed.
    let allowed = combine(decide(&whole, &[], false), parts(false));
    assert_eq!(verdict(&allowed), "allowed", "{:#?}", allowed.rules);
    // Carol rejects the whole range: blocked, and her rejection is shown.
    let rejected = combine(decide(&whole, &[reject("carol", "not this week")], false), parts(false));
    assert_eq!(verdict(&rejected), "blocked");
    assert_eq!(rejected.rejections.iter().map(|rejection| rejection.person.as_str()).collect::<Vec<_>>(), ["carol"]);
    // The whole range approved as one, but a part holds an attestation nobody can read.
    let unread = combine(decide(&whole, &[approve("alice")], false), parts(true));
    assert_eq!(verdict(&unread), "blocked");
    assert!(unread.rules.iter().any(|rule| rule.name == "readable-attestations" && !rule.satisfied));
    // An unreadable attestation of the whole range blocks though every part is approved.
    let unread_whole = combine(decide(&whole, &[], true), parts(false));
    assert_eq!(verdict(&unread_whole), "blocked");
}
