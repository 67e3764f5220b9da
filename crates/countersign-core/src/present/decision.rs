//! The decision as an engineer reads it in a CI log: verdict first, then what blocks and who can
//! unblock it, then the evidence.

use std::fmt::Write;

use super::{at, findings, services, short};
use crate::evaluate::{Decision, GateVerdict, Interdiff, MergedKind, plural};

/// What the "to approve: countersign approve …" lines name, as the command line gave it.
pub struct ApproveHint {
    /// The repository path, as shown.
    pub repo: String,
    /// The base revision as given, or the decision's base when none was.
    pub base: String,
    /// The head revision as given.
    pub head: String,
}

/// The decision's text; `hint` fills the command that would approve it.
pub fn decision(decision: &Decision, hint: &ApproveHint) -> String {
    let mut out = String::new();
    let change = &decision.change;
    let verdict = match decision.verdict {
        GateVerdict::Allowed => "ALLOWED",
        GateVerdict::Blocked => "BLOCKED",
        GateVerdict::Overridden => "OVERRIDDEN (break-glass; an after-the-fact review is due)",
    };
    let _ = writeln!(
        out,
        "{verdict}: deploy of {} to {} ({}, {}, +{} -{})",
        short(&change.head),
        change.environment,
        plural(change.commits, "commit"),
        plural(change.files, "file"),
        change.lines_added,
        change.lines_deleted
    );
    let _ = writeln!(out, "  fingerprint {}", change.fingerprint);
    let _ = writeln!(out, "  services:    {}", services(&change.services));
    let risk_reasons = if decision.risk.reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", decision.risk.reasons.join("; "))
    };
    let _ = writeln!(out, "  risk:        {}{risk_reasons}", decision.risk.level);
    for operation in &decision.destructive {
        let _ = writeln!(out, "  destructive: {} {operation}", operation.source);
    }
    for operation in &decision.hazards {
        let _ = writeln!(out, "  hazard:      {} {operation}", operation.source);
    }
    let _ = writeln!(out, "  rollout:     {}", decision.rollout);
    let ai_commits = decision.commits.iter().filter(|commit| commit.ai_assisted).count();
    let _ = writeln!(
        out,
        "  AI-assisted: {}",
        if decision.ai_assisted {
            format!("yes, {ai_commits} of {} commits", decision.commits.len())
        } else {
            "no markers found".to_owned()
        }
    );
    if let Some(attribution) = decision.attribution.as_ref().filter(|attribution| attribution.ai_lines > 0) {
        let services: Vec<String> = attribution
            .services
            .iter()
            .filter(|service| service.ai_lines > 0)
            .map(|service| format!("{} {} of {}", service.name, service.ai_lines, service.added_lines))
            .collect();
        let by_service = if services.is_empty() { String::new() } else { format!("; {}", services.join(", ")) };
        let _ = writeln!(
            out,
            "  AI-written:  {} of {} added lines ({}%){by_service}",
            attribution.ai_lines, attribution.added_lines, attribution.ai_percent
        );
    }
    let responsible: Vec<String> = decision
        .responsible
        .iter()
        .map(|entry| {
            if entry.known {
                format!("{} ({})", entry.id, entry.level)
            } else {
                format!("{} (not in people.toml)", entry.id)
            }
        })
        .collect();
    let _ = writeln!(out, "  responsible: {}", responsible.join(", "));
    merged_changes(&mut out, decision, hint);

    let _ = writeln!(out);
    for rejection in &decision.rejections {
        let comment = if rejection.comment.is_empty() { String::new() } else { format!(": \"{}\"", rejection.comment) };
        let version = match &rejection.earlier_version {
            Some(earlier) => format!(" an earlier version ({}, {})", short(&earlier.head), at(rejection.time)),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "✗ rejected{version} by {}{comment} (blocks until {} approves)",
            rejection.person, rejection.person
        );
        if let Some(earlier) = &rejection.earlier_version {
            interdiff(&mut out, &earlier.changed_since);
        }
    }
    for rule in decision.rules.iter().filter(|rule| rule.applies && !rule.satisfied) {
        let _ = writeln!(
            out,
            "✗ {}{}",
            rule.name,
            rule.description.as_ref().map(|text| format!(": {text}")).unwrap_or_default()
        );
        for why in &rule.why {
            let _ = writeln!(out, "    {why}");
        }
        for group in rule.owner_groups.iter().filter(|group| group.covered_by.is_none()) {
            let _ = writeln!(out, "    owners {} not yet covered (for {})", group.owners, group.paths.join(", "));
        }
        if rule.eligible.is_empty() {
            let _ = writeln!(out, "    nobody eligible can approve: fix people.toml, or use break-glass");
        } else {
            let _ = writeln!(out, "    needs {} more; can unblock: {}", rule.missing, rule.eligible.join(", "));
            if !rule.suggested.is_empty() {
                let _ = writeln!(out, "    suggested: {}", rule.suggested.join(", "));
            }
        }
    }
    for rule in decision.rules.iter().filter(|rule| rule.applies && rule.satisfied) {
        let by = if rule.approvals.is_empty() {
            String::new()
        } else {
            format!(", approved by {}", rule.approvals.join(", "))
        };
        let _ = writeln!(out, "✓ {}{by}", rule.name);
    }
    for rule in decision.rules.iter().filter(|rule| !rule.applies) {
        let _ = writeln!(out, "· {} does not apply: {}", rule.name, rule.why.join("; "));
    }

    for approval in &decision.earlier_approvals {
        let Some(earlier) = &approval.earlier_version else { continue };
        let _ = writeln!(
            out,
            "\n{} approved an earlier version ({}, {}); it does not count for this one.",
            approval.person,
            short(&earlier.head),
            at(approval.time)
        );
        if earlier.changed_since.is_empty() {
            let _ = writeln!(out, "  (that version is not in this clone; fetch it to see what changed since)");
        } else {
            let _ = writeln!(out, "  changed since:");
            interdiff(&mut out, &earlier.changed_since);
        }
    }

    if let Some(first) = decision.suggested_reviewers.first().filter(|_| decision.changes.is_empty()) {
        let _ = writeln!(out, "\nfewest reviewers to unblock: {}", decision.suggested_reviewers.join(", "));
        let _ = writeln!(
            out,
            "to approve: countersign approve --repo {} --base {} --head {} --env {} --as {first} --key ~/.ssh/id_ed25519",
            hint.repo, hint.base, hint.head, change.environment
        );
    }
    let evidence: Vec<_> = decision.commits.iter().filter(|commit| !commit.signals.is_empty()).collect();
    if !evidence.is_empty() || !decision.change_signals.is_empty() {
        let _ = writeln!(out, "\nAI evidence:");
        for commit in evidence {
            for signal in &commit.signals {
                let tool = signal.tool.as_deref().unwrap_or("unknown tool");
                let _ = writeln!(
                    out,
                    "  {} {tool} ({} {}): {}",
                    short(&commit.id),
                    signal.strength.as_str(),
                    signal.kind.as_str(),
                    signal.text
                );
            }
        }
        for signal in &decision.change_signals {
            let tool = signal.tool.as_deref().unwrap_or("unknown tool");
            let _ = writeln!(
                out,
                "  change     {tool} ({} {}): {}",
                signal.strength.as_str(),
                signal.kind.as_str(),
                signal.text
            );
        }
    }
    out.push_str(&findings(&decision.findings));
    out
}

/// Each merged change of a deployment range with its verdict and what it needs.
fn merged_changes(out: &mut String, decision: &Decision, hint: &ApproveHint) {
    if decision.changes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nmerged changes, oldest first:");
    for change in &decision.changes {
        let mark = match change.verdict {
            GateVerdict::Allowed => "✓",
            GateVerdict::Blocked => "✗",
            GateVerdict::Overridden => "!",
        };
        let kind = match (change.kind, change.reviewed) {
            (MergedKind::Commit, false) if change.compared_with.is_some() => {
                "commit that differs from what was reviewed".to_owned()
            }
            (MergedKind::Commit, false) => "direct push, nobody reviewed it".to_owned(),
            (MergedKind::Commit, true) => "commit".to_owned(),
            (MergedKind::Commits, _) => format!("{} commits reviewed together", change.commits.len()),
            (MergedKind::Merge, _) => "merge".to_owned(),
            (MergedKind::MergeWithNewContent, _) => "merge that wrote content of its own".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {mark} {} {} ({kind}; {}, +{} -{}, {} risk)",
            short(change.commits.last().unwrap_or(&change.head)),
            change.title,
            plural(change.files, "file"),
            change.lines_added,
            change.lines_deleted,
            change.risk
        );
        if !change.approvals.is_empty() {
            let people: Vec<&str> = change.approvals.iter().map(|approval| approval.person.as_str()).collect();
            let _ = writeln!(out, "      approved by {}", people.join(", "));
        }
        for rejection in &change.rejections {
            let _ = writeln!(out, "      rejected by {}", rejection.person);
        }
        if !change.new_content.is_empty() {
            let against = match &change.compared_with {
                Some(compared) => format!(
                    " (compared with the version {} approved, {})",
                    compared.people.join(", "),
                    short(&compared.fingerprint.replace("sha256:", ""))
                ),
                None => String::new(),
            };
            let _ = writeln!(out, "      content nobody approved{against}: {}", change.new_content.join(", "));
        }
        if change.verdict == GateVerdict::Blocked {
            let unmet: Vec<&str> = change.unmet.iter().map(|rule| rule.name.as_str()).collect();
            if !unmet.is_empty() {
                let _ = writeln!(out, "      unmet: {}", unmet.join(", "));
            }
            if let Some(first) = change.suggested_reviewers.first() {
                let _ = writeln!(
                    out,
                    "      to approve: countersign approve --repo {} --base {} --head {} --env {} --as {first} --key ~/.ssh/id_ed25519",
                    hint.repo, change.base, change.head, decision.change.environment
                );
            }
        }
    }
}

/// The files and hunks that changed since a reviewed version, indented under it.
fn interdiff(out: &mut String, files: &[Interdiff]) {
    for file in files {
        let _ = writeln!(out, "    {}", file.path);
        for line in file.patch.lines() {
            let _ = writeln!(out, "      {line}");
        }
        if file.truncated {
            let _ = writeln!(out, "      …");
        }
    }
}
