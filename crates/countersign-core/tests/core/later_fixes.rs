//! Which changes a history shows needed a later fix: the revert markers git and GitHub write.

use countersign_core::model::{Commit, Identity};
use countersign_core::simulate::LaterFixes;

fn commit(id: &str, message: &str) -> Commit {
    let someone = Identity { name: "Someone".to_owned(), email: "someone@shop.example".to_owned() };
    Commit {
        id: id.to_owned(),
        parents: Vec::new(),
        author: someone.clone(),
        committer: someone,
        time: 0,
        message: message.to_owned(),
        files: Vec::new(),
    }
}

/// After the history's `reverts`, which `(id, subject)` are found reverted, and by which commit.
fn check(reverts: &[(&str, &str)], asked: (&str, &str), expected: Option<&str>) {
    let mut fixes = LaterFixes::default();
    for (id, message) in reverts {
        fixes.observe(&commit(id, message));
    }
    assert_eq!(
        fixes.fixed_by(asked.0, asked.1).map(|evidence| evidence.by.as_str()),
        expected,
        "{reverts:?} asked about {asked:?}"
    );
}

const TARGET: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn revert_markers() {
    let git_revert = "Revert \"Add d\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n";
    check(&[("r1", git_revert)], (TARGET, "Add d"), Some("r1"));
    check(&[("r1", "Undo\n\nThis reverts commit 0123456.")], (TARGET, "Add d"), Some("r1"));
    check(&[("r1", "Undo\n\nThis reverts commit 0123456789ABCDEF.")], (TARGET, "Add d"), Some("r1"));
    check(&[("r1", "Undo\n\nThis reverts commit 012345.")], (TARGET, "Add d"), None);
    check(&[("r1", "Undo\n\nThis reverts commit fedcba9.")], (TARGET, "Add d"), None);
    // GitHub's squash of a revert pull request names the subject, with or without the numbers.
    check(&[("r2", "Revert \"Add d (#12)\" (#13)")], (TARGET, "Add d (#12)"), Some("r2"));
    check(&[("r2", "Revert \"Add d\"")], (TARGET, "Add d"), Some("r2"));
    check(&[("r2", "Revert \"Add d\"")], (TARGET, "Add e"), None);
    check(&[("r2", "Revert Add d")], (TARGET, "Add d"), None);
    // A revert does not label itself.
    check(&[("r2", "Revert \"Add d\"")], ("r2", "Add d"), None);
}

#[test]
fn fix_subjects() {
    let fix = |message: &str| countersign_core::simulate::looks_like_fix(&commit("f", message));
    for message in
        ["Fix the cart total", "fix: empty cart", "Hotfix for checkout", "Bug 1234: totals", "cart: fixes rounding"]
    {
        assert!(fix(message), "{message}");
    }
    for message in ["Add a prefix option", "Revert \"Fix the cart total\"", "Document the debugger", "Fixture data"] {
        assert!(!fix(message), "{message}");
    }
}
