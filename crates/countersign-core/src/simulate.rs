//! Policy simulation: replays decisions of past changes as if each had been gated, routes the
//! reviews they would have needed to the least-loaded eligible reviewer, and models each reviewer
//! as a queue with a fixed daily capacity. Pure: the adapter feeds decisions in time order.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::config::Config;
use crate::directory::Member;
use crate::evaluate::{self, Decision};
use crate::model::{ChangeInput, Commit, FileChange, Identity, RecentHistory};
use crate::risk;

const WEEK_SECS: i64 = 7 * 86_400;

/// How many changes one rule would have held for review.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCount {
    pub name: String,
    pub caught: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ReviewerLoad {
    pub person: String,
    pub level: String,
    pub reviews: u64,
    /// The most reviews routed to this person in one week.
    pub busiest_week: u64,
}

/// One week of the replay, for the chart.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Week {
    /// Start of the week, seconds since the epoch (weeks count from the first change).
    pub start: i64,
    pub changes: u64,
    pub need_review: u64,
    pub senior_reviews: u64,
    /// Mean wait, in hours, of the changes of this week that needed review.
    pub mean_delay_hours: f64,
}

/// How long changes that need review wait for their last review, in the queue model. Only
/// changes that need review count: a policy asking for fewer reviews can wait longer when the
/// ones it asks for fall on fewer people.
#[derive(Clone, Debug, Serialize)]
pub struct Delay {
    pub p50_hours: f64,
    pub p90_hours: f64,
    pub max_hours: f64,
    pub mean_hours: f64,
    /// How many changes these figures are over.
    pub over_changes: u64,
    /// Who the queue waits on: for each reviewer, the changes whose last review was theirs
    /// and the hours those changes waited, most first.
    pub waits_on: Vec<WaitedOn>,
}

/// A reviewer who held up changes in the queue model.
#[derive(Clone, Debug, Serialize)]
pub struct WaitedOn {
    pub person: String,
    pub level: String,
    pub changes: u64,
    pub hours: f64,
}

/// What one policy would have cost over the replayed history.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub changes: u64,
    pub ai_assisted: u64,
    pub need_review: u64,
    pub need_senior: u64,
    /// Changes some rule of which no directory person could approve: blocked for good.
    pub unapprovable: u64,
    pub rules: Vec<RuleCount>,
    pub risk: [u64; 4],
    pub reviews: u64,
    pub senior_reviews: u64,
    pub seniors: usize,
    /// Senior reviews per senior per week, over the whole replay.
    pub senior_load_per_week: f64,
    /// The most reviews one senior would have had in one week.
    pub busiest_senior_week: u64,
    pub delay: Delay,
    pub reviewers: Vec<ReviewerLoad>,
    pub weeks: Vec<Week>,
    /// What the policy would have caught: of the changes history shows needed a later fix.
    pub efficacy: Efficacy,
}

/// How the reviews a policy asks for fall on the changes that later needed a fix.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Efficacy {
    /// Over every change.
    pub all: Caught,
    /// Over the AI-assisted changes.
    pub ai_assisted: Caught,
    /// The AI-assisted changes by people below the senior level that touch a tier-0 service or
    /// destroy something, and how many of them the policy gave a senior: every one should get one.
    pub ai_tier0_or_destructive: Covered,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Covered {
    pub changes: u64,
    pub with_senior: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Caught {
    /// Changes a later revert undid or a later fix repaired.
    pub later_fixed: u64,
    /// Of those, how many the policy gave a senior review, any review, or none.
    pub fixed_with_senior: u64,
    pub fixed_with_review: u64,
    pub fixed_without_review: u64,
    /// Changes that needed a senior and never needed a fix.
    pub senior_on_never_fixed: u64,
}

/// The changes a history shows needed a later fix: reverted ones, named by git's
/// `This reverts commit <id>` line or by GitHub's `Revert "<subject>"` squash, and those whose
/// lines a later fix changed (traced by the adapter, see [`LaterFixes::traced`]). Each label
/// keeps its evidence.
#[derive(Clone, Debug, Default)]
pub struct LaterFixes {
    by_id: HashMap<String, FixEvidence>,
    by_subject: HashMap<String, FixEvidence>,
}

/// Why a change is labelled as having needed a later fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FixEvidence {
    /// The reverting or fixing commit.
    pub by: String,
    pub how: FixKind,
    /// For a fix: the lines it removed or changed that the change had written, as `path:line`
    /// in the fix's parent (at most [`MAX_EVIDENCE_LINES`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixKind {
    /// `This reverts commit <id>`.
    Revert,
    /// GitHub's `Revert "<subject>"`, matched by subject.
    RevertedSubject,
    /// A later fix changed its lines (SZZ).
    Fix,
}

/// Lines kept as one label's evidence.
pub const MAX_EVIDENCE_LINES: usize = 20;

/// A replayed change that needed a later fix, with the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct LaterFixed {
    /// The change's first-parent commit.
    pub change: String,
    pub subject: String,
    pub ai_assisted: bool,
    pub fixed_by: FixEvidence,
}

/// Whether a commit says it fixes something (see [`risk::looks_like_fix`]).
pub fn looks_like_fix(commit: &Commit) -> bool {
    risk::looks_like_fix(&commit.message)
}

/// A subject without GitHub's ` (#123)` pull request suffix.
fn bare_subject(subject: &str) -> &str {
    let subject = subject.trim();
    match subject.rsplit_once(" (#") {
        Some((bare, number)) if number.strip_suffix(')').is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())) => bare,
        _ => subject,
    }
}

impl LaterFixes {
    /// Reads the revert markers of a commit of the history.
    pub fn observe(&mut self, commit: &Commit) {
        let evidence = |how| FixEvidence { by: commit.id.clone(), how, lines: Vec::new() };
        for line in commit.message.lines() {
            if let Some(rest) = line.trim().strip_prefix("This reverts commit ") {
                let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                if id.len() >= 7 {
                    self.by_id.insert(id.to_ascii_lowercase(), evidence(FixKind::Revert));
                }
            }
        }
        let subject = bare_subject(commit.message.lines().next().unwrap_or(""));
        if let Some(title) = subject.strip_prefix("Revert \"").and_then(|rest| rest.strip_suffix('"')) {
            self.by_subject.insert(bare_subject(title).to_owned(), evidence(FixKind::RevertedSubject));
        }
    }

    /// Records that `fix` changed line `line` of `path`, which the change `introducer` wrote
    /// (SZZ). The first fix traced to a change is its label; its lines are the evidence.
    pub fn traced(&mut self, introducer: &str, fix: &str, path: &str, line: u32) {
        if introducer == fix {
            return;
        }
        let evidence = self.by_id.entry(introducer.to_ascii_lowercase()).or_insert_with(|| FixEvidence {
            by: fix.to_owned(),
            how: FixKind::Fix,
            lines: Vec::new(),
        });
        if evidence.by == fix && evidence.lines.len() < MAX_EVIDENCE_LINES {
            evidence.lines.push(format!("{path}:{line}"));
        }
    }

    /// What reverted or fixed this commit, if anything did.
    pub fn fixed_by(&self, id: &str, subject: &str) -> Option<&FixEvidence> {
        let id = id.to_ascii_lowercase();
        (7..=id.len())
            .find_map(|length| self.by_id.get(&id[..length]))
            .or_else(|| self.by_subject.get(bare_subject(subject)).filter(|by| by.by != id))
    }

    /// The label of a change of these commits (`(id, subject)`, any order): the first commit's
    /// that has one.
    pub fn of_change<'a>(&'a self, commits: &[(String, String)]) -> Option<&'a FixEvidence> {
        commits.iter().find_map(|(id, subject)| self.fixed_by(id, subject))
    }
}

/// What a replayed change needed, kept until the history's later fixes are known.
struct Seen {
    commits: Vec<(String, String)>,
    ai_assisted: bool,
    /// AI-assisted, by someone below senior, touching tier 0 or destructive.
    critical_ai: bool,
    review: bool,
    senior: bool,
}

/// What `simulate` reports: its JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    pub range: String,
    pub environment: String,
    pub changes: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub reviews_per_reviewer_per_day: f64,
    pub senior_level: String,
    pub policies: Vec<PolicyReport>,
    /// The changes that later needed a fix, with the evidence (the first policy's view of which
    /// were AI-assisted).
    pub later_fixed: Vec<LaterFixed>,
}

/// Replays one policy. Feed decisions oldest first with [`Simulation::record`].
pub struct Simulation<'a> {
    config: &'a Config,
    senior_level: usize,
    review_secs: i64,
    first: Option<i64>,
    busy_until: Vec<i64>,
    reviews: Vec<u64>,
    weekly_reviews: Vec<Vec<u64>>,
    delays: Vec<i64>,
    /// Per person: changes whose last review was theirs, and the seconds those changes waited.
    held_up: Vec<(u64, i64)>,
    weeks: Vec<(Week, i64, u64)>,
    seen: Vec<Seen>,
    report: PolicyReport,
}

impl<'a> Simulation<'a> {
    /// `senior_level` is the index on the ladder from which a person counts as senior;
    /// `reviews_per_day` is each reviewer's capacity.
    pub fn new(config: &'a Config, name: String, senior_level: usize, reviews_per_day: f64) -> Simulation<'a> {
        let people = config.directory.people();
        let seniors = people.iter().filter(|person| person.level >= senior_level).count();
        Simulation {
            config,
            senior_level,
            review_secs: (86_400.0 / reviews_per_day.max(0.001)).round() as i64,
            first: None,
            busy_until: vec![i64::MIN; people.len()],
            reviews: vec![0; people.len()],
            weekly_reviews: vec![Vec::new(); people.len()],
            delays: Vec::new(),
            held_up: vec![(0, 0); people.len()],
            weeks: Vec::new(),
            seen: Vec::new(),
            report: PolicyReport {
                name,
                changes: 0,
                ai_assisted: 0,
                need_review: 0,
                need_senior: 0,
                unapprovable: 0,
                rules: config
                    .policy
                    .rules
                    .iter()
                    .map(|rule| RuleCount { name: rule.name.clone(), caught: 0 })
                    .collect(),
                risk: [0; 4],
                reviews: 0,
                senior_reviews: 0,
                seniors,
                senior_load_per_week: 0.0,
                busiest_senior_week: 0,
                delay: Delay {
                    p50_hours: 0.0,
                    p90_hours: 0.0,
                    max_hours: 0.0,
                    mean_hours: 0.0,
                    over_changes: 0,
                    waits_on: Vec::new(),
                },
                reviewers: Vec::new(),
                weeks: Vec::new(),
                efficacy: Efficacy::default(),
            },
        }
    }

    /// Records the decision a change of these commits would have got at `time`, without any
    /// approval.
    pub fn record(&mut self, decision: &Decision, time: i64, commits: &[Commit]) {
        let mut seen = Seen {
            commits: commits
                .iter()
                .map(|commit| (commit.id.clone(), commit.message.lines().next().unwrap_or("").to_owned()))
                .collect(),
            ai_assisted: decision.ai_assisted,
            critical_ai: decision.ai_assisted
                && self.below_senior(decision)
                && (decision.change.services.iter().any(|service| service.tier == 0)
                    || !decision.destructive.is_empty()),
            review: false,
            senior: false,
        };
        self.record_needs(decision, time, &mut seen);
        self.seen.push(seen);
    }

    /// Whether a responsible human is below the senior level (unknown people are).
    fn below_senior(&self, decision: &Decision) -> bool {
        let directory = &self.config.directory;
        decision.responsible.iter().any(|responsible| {
            !responsible.known
                || directory.level_index(&responsible.level).is_none_or(|level| level < self.senior_level)
        })
    }

    fn record_needs(&mut self, decision: &Decision, time: i64, seen: &mut Seen) {
        let first = *self.first.get_or_insert(time);
        let week = usize::try_from((time - first).max(0) / WEEK_SECS).unwrap_or(0);
        while self.weeks.len() <= week {
            let start = first + self.weeks.len() as i64 * WEEK_SECS;
            self.weeks.push((Week { start, ..Week::default() }, 0, 0));
        }
        let report = &mut self.report;
        report.changes += 1;
        report.ai_assisted += u64::from(decision.ai_assisted);
        report.risk[decision.risk.level as usize] += 1;
        self.weeks[week].0.changes += 1;

        let directory = &self.config.directory;
        let people = directory.people();
        let unmet: Vec<_> = decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied).collect();
        for rule in &unmet {
            if let Some(count) = report.rules.iter_mut().find(|count| count.name == rule.name) {
                count.caught += 1;
            }
        }
        if unmet.is_empty() {
            return;
        }
        report.need_review += 1;
        seen.review = true;
        self.weeks[week].0.need_review += 1;
        let rule_needs_senior = |eligible: &[String]| {
            !eligible.is_empty()
                && eligible.iter().filter_map(|id| directory.person(id)).all(|person| person.level >= self.senior_level)
        };
        if unmet.iter().any(|rule| rule_needs_senior(&rule.eligible)) {
            report.need_senior += 1;
            seen.senior = true;
        }
        if unmet.iter().any(|rule| rule.missing > 0 && rule.eligible.is_empty()) {
            report.unapprovable += 1;
        }

        // Route: each rule takes its missing reviewers, owners first when it needs owners, and
        // among equals whoever is free soonest; someone already picked counts for every rule.
        let mut picked: Vec<usize> = Vec::new();
        for rule in &unmet {
            let preferred: &[String] = if rule.owner_groups.is_empty() { &rule.eligible } else { &rule.suggested };
            let candidates: Vec<usize> = preferred.iter().filter_map(|id| directory.person_index(id)).collect();
            let already = candidates.iter().filter(|idx| picked.contains(idx)).count() as u32;
            for _ in already..rule.missing {
                let best = candidates
                    .iter()
                    .copied()
                    .filter(|idx| !picked.contains(idx))
                    .min_by_key(|idx| (self.busy_until[*idx].max(time), self.reviews[*idx], *idx));
                match best {
                    Some(idx) => picked.push(idx),
                    None => break,
                }
            }
        }
        let mut wait = 0;
        let mut last = None;
        for idx in picked {
            let start = self.busy_until[idx].max(time);
            let done = start + self.review_secs;
            self.busy_until[idx] = done;
            if done - time > wait || last.is_none() {
                last = Some(idx);
            }
            wait = wait.max(done - time);
            self.reviews[idx] += 1;
            let weekly = &mut self.weekly_reviews[idx];
            if weekly.len() <= week {
                weekly.resize(week + 1, 0);
            }
            weekly[week] += 1;
            report.reviews += 1;
            if people[idx].level >= self.senior_level {
                report.senior_reviews += 1;
                self.weeks[week].0.senior_reviews += 1;
            }
        }
        if let Some(idx) = last {
            self.held_up[idx].0 += 1;
            self.held_up[idx].1 += wait;
        }
        self.delays.push(wait);
        self.weeks[week].1 += wait;
        self.weeks[week].2 += 1;
    }

    /// The replayed changes `fixes` labels, oldest first.
    pub fn later_fixed(&self, fixes: &LaterFixes) -> Vec<LaterFixed> {
        self.seen
            .iter()
            .filter_map(|seen| {
                let evidence = fixes.of_change(&seen.commits)?;
                let (change, subject) = seen.commits.first()?;
                Some(LaterFixed {
                    change: change.clone(),
                    subject: subject.clone(),
                    ai_assisted: seen.ai_assisted,
                    fixed_by: evidence.clone(),
                })
            })
            .collect()
    }

    /// The report, with what the policy caught of the changes `fixes` shows needed a fix.
    pub fn finish(mut self, fixes: &LaterFixes) -> PolicyReport {
        for seen in &self.seen {
            let fixed = fixes.of_change(&seen.commits).is_some();
            let efficacy = &mut self.report.efficacy;
            if seen.critical_ai {
                efficacy.ai_tier0_or_destructive.changes += 1;
                efficacy.ai_tier0_or_destructive.with_senior += u64::from(seen.senior);
            }
            for caught in
                std::iter::once(&mut efficacy.all).chain(seen.ai_assisted.then_some(&mut efficacy.ai_assisted))
            {
                match (fixed, seen.senior, seen.review) {
                    (true, true, _) => caught.fixed_with_senior += 1,
                    (true, false, true) => caught.fixed_with_review += 1,
                    (true, false, false) => caught.fixed_without_review += 1,
                    (false, true, _) => caught.senior_on_never_fixed += 1,
                    (false, false, _) => {}
                }
                caught.later_fixed += u64::from(fixed);
            }
        }
        let directory = &self.config.directory;
        let people = directory.people();
        let report = &mut self.report;
        let weeks = self.weeks.len().max(1) as f64;
        if report.seniors > 0 {
            report.senior_load_per_week = round2(report.senior_reviews as f64 / report.seniors as f64 / weeks);
        }
        for (idx, person) in people.iter().enumerate() {
            let busiest = self.weekly_reviews[idx].iter().copied().max().unwrap_or(0);
            if person.level >= self.senior_level {
                report.busiest_senior_week = report.busiest_senior_week.max(busiest);
            }
            if self.reviews[idx] > 0 {
                report.reviewers.push(ReviewerLoad {
                    person: person.id.clone(),
                    level: directory.level_name(person.rank()).to_owned(),
                    reviews: self.reviews[idx],
                    busiest_week: busiest,
                });
            }
        }
        report.reviewers.sort_by(|a, b| b.reviews.cmp(&a.reviews).then_with(|| a.person.cmp(&b.person)));
        self.delays.sort_unstable();
        let hours = |secs: i64| round2(secs as f64 / 3600.0);
        let at = |share: f64| {
            self.delays
                .get(((self.delays.len() as f64 * share).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(0)
        };
        report.delay = Delay {
            p50_hours: hours(at(0.5)),
            p90_hours: hours(at(0.9)),
            max_hours: hours(self.delays.last().copied().unwrap_or(0)),
            mean_hours: if self.delays.is_empty() {
                0.0
            } else {
                hours(self.delays.iter().sum::<i64>() / self.delays.len() as i64)
            },
            over_changes: self.delays.len() as u64,
            waits_on: Vec::new(),
        };
        let mut waits_on: Vec<WaitedOn> = people
            .iter()
            .zip(&self.held_up)
            .filter(|(_, (changes, _))| *changes > 0)
            .map(|(person, (changes, secs))| WaitedOn {
                person: person.id.clone(),
                level: directory.level_name(person.rank()).to_owned(),
                changes: *changes,
                hours: hours(*secs),
            })
            .collect();
        waits_on.sort_by(|a, b| b.hours.total_cmp(&a.hours).then_with(|| a.person.cmp(&b.person)));
        report.delay.waits_on = waits_on;
        report.weeks = self
            .weeks
            .into_iter()
            .map(|(mut week, waited, count)| {
                week.mean_delay_hours = if count == 0 { 0.0 } else { hours(waited / count as i64) };
                week
            })
            .collect();
        self.report
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Who committed in which directory when, so a replay can give each change the recent history
/// its authors had at the time, as `check` reads it from git.
pub struct ExperienceIndex {
    window_secs: i64,
    /// Enough commits to tell experienced from not; counting further changes no level.
    enough: usize,
    by_person_dir: HashMap<(usize, String), VecDeque<(i64, u64)>>,
    next_commit: u64,
}

impl ExperienceIndex {
    pub fn new(config: &Config) -> ExperienceIndex {
        ExperienceIndex {
            window_secs: i64::from(config.policy.risk.experience_days) * 86_400,
            enough: config.policy.risk.experience_min_commits.max(1) as usize,
            by_person_dir: HashMap::new(),
            next_commit: 0,
        }
    }

    /// Remembers a commit of the replayed history, once its change has been decided.
    pub fn add(&mut self, config: &Config, commit: &Commit) {
        let Some(Member::Person(person)) = config.directory.by_identity(&commit.author) else { return };
        let Some(idx) = config.directory.person_index(&person.id) else { return };
        self.next_commit += 1;
        for directory in risk::directories_of(commit.files.iter().map(|file| file.path.as_str())) {
            let entries = self.by_person_dir.entry((idx, directory.to_owned())).or_default();
            entries.push_back((commit.time, self.next_commit));
            while entries.front().is_some_and(|(time, _)| *time < commit.time - self.window_secs) {
                entries.pop_front();
            }
        }
    }

    /// The authors' commits in the change's directories within the window before `time`, as
    /// commits `analyze` counts; at most as many per author as the policy needs to see.
    pub fn history_for(&self, config: &Config, change: &ChangeInput, time: i64) -> RecentHistory {
        let directories = risk::directories_of(change.files.iter().map(|file| file.path.as_str()));
        let mut commits = Vec::new();
        let responsible = evaluate::responsible(config, change);
        for entry in evaluate::Responsible::judged_for_experience(&responsible) {
            let Some(idx) = config.directory.person_index(&entry.id).filter(|_| entry.known) else { continue };
            let person = &config.directory.people()[idx];
            let email = match (person.emails.first(), &person.github) {
                (Some(email), _) => email.clone(),
                (None, Some(login)) => format!("{login}@users.noreply.github.com"),
                (None, None) => continue,
            };
            let mut seen: Vec<u64> = Vec::new();
            for directory in &directories {
                let Some(entries) = self.by_person_dir.get(&(idx, (*directory).to_owned())) else { continue };
                for (_, id) in entries.iter().filter(|(at, _)| *at < time && *at >= time - self.window_secs) {
                    if seen.len() < self.enough && !seen.contains(id) {
                        seen.push(*id);
                        commits.push(Commit {
                            id: id.to_string(),
                            parents: Vec::new(),
                            author: Identity::new(person.name.clone(), email.clone()),
                            committer: Identity::new(person.name.clone(), email.clone()),
                            time,
                            message: String::new(),
                            files: vec![FileChange {
                                path: if directory.is_empty() { "-".to_owned() } else { format!("{directory}/-") },
                                added: 0,
                                deleted: 0,
                                deleted_file: false,
                            }],
                        });
                    }
                }
            }
        }
        RecentHistory { commits, complete: true }
    }
}
