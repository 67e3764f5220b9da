//! `countersign owners`: each path with its owners and the CODEOWNERS line that decided.

use std::fmt::Write;

use super::services;
use crate::evaluate::PathOwners;

/// Each path, then its CODEOWNERS owners, its services' owners and its services.
pub fn owners(answers: &[PathOwners]) -> String {
    let mut out = String::new();
    for answer in answers {
        let _ = writeln!(out, "{}", answer.path);
        let _ = match &answer.codeowners {
            Some(rule) if rule.owners.is_empty() => {
                writeln!(out, "  owners:   none (explicitly unowned by {}:{} `{}`)", rule.file, rule.line, rule.pattern)
            }
            Some(rule) => writeln!(
                out,
                "  owners:   {}{} from {}:{} `{}`",
                rule.owners.join(" "),
                if rule.people.is_empty() { String::new() } else { format!(" ({})", rule.people.join(", ")) },
                rule.file,
                rule.line,
                rule.pattern
            ),
            None if answer.codeowners_file.is_none() => writeln!(out, "  owners:   no CODEOWNERS file"),
            None => writeln!(out, "  owners:   none (no CODEOWNERS line matches)"),
        };
        for service in answer.service_owners.iter().filter(|service| !service.owners.is_empty()) {
            let people =
                if service.people.is_empty() { String::new() } else { format!(" ({})", service.people.join(", ")) };
            let _ = writeln!(out, "  service {} owners: {}{people}", service.service, service.owners.join(", "));
        }
        let _ = writeln!(out, "  services: {}", services(&answer.services));
    }
    out
}
