//! The audit chain and reviewer routing: pure functions, small cases.

use countersign_core::audit::{ChainVerifier, Entry, GENESIS};
use countersign_core::routing::{Candidate, rank};

fn chain(length: i64) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for seq in 0..length {
        let prev = entries.last().map(|entry| (entry.seq, entry.hash.as_str()));
        let entry = Entry::next(prev, 1_000 + seq, "alice", "approval.recorded", "change/1", "{\"n\":1}");
        entries.push(entry);
    }
    entries
}

/// Verifies the entries; the first broken seq and a word of its problem, or the count.
fn check_chain(entries: &[Entry], expected: Result<u64, (i64, &str)>) {
    let mut verifier = ChainVerifier::default();
    for entry in entries {
        if let Err(broken) = verifier.push(entry) {
            let (seq, word) = expected.expect_err(&format!("unexpected break: {broken}"));
            assert_eq!(broken.seq, seq, "{broken}");
            assert!(broken.problem.contains(word), "{broken}");
            return;
        }
    }
    let (count, head) = verifier.finish();
    match expected {
        Ok(expected) => assert_eq!(count, expected),
        Err((seq, _)) => panic!("expected a break at entry {seq}, but the chain verified"),
    }
    assert_eq!(head, entries.last().map_or(GENESIS.to_owned(), |entry| entry.hash.clone()));
}

#[test]
fn audit_chain() {
    check_chain(&[], Ok(0));
    check_chain(&chain(5), Ok(5));
    assert_eq!(chain(1)[0].prev_hash, GENESIS);

    let mut edited = chain(5);
    edited[2].detail = "{\"n\":2}".to_owned();
    check_chain(&edited, Err((3, "altered")));

    let mut rehashed = chain(5);
    rehashed[2] = Entry::next(
        Some((2, &rehashed[1].hash.clone())),
        1_002,
        "mallory",
        "approval.recorded",
        "change/1",
        "{\"n\":1}",
    );
    check_chain(&rehashed, Err((4, "previous hash")));

    let mut deleted = chain(5);
    deleted.remove(1);
    check_chain(&deleted, Err((3, "missing")));

    let mut swapped = chain(5);
    swapped.swap(1, 2);
    check_chain(&swapped, Err((3, "missing")));

    let mut renumbered = chain(3);
    renumbered[0].seq = 7;
    check_chain(&renumbered, Err((7, "missing")));
}

#[test]
fn audit_fields_cannot_imitate_each_other() {
    let one = Entry::next(None, 1, "ab", "c", "s", "{}");
    let other = Entry::next(None, 1, "a", "bc", "s", "{}");
    assert_ne!(one.hash, other.hash);
}

fn candidate(person: &str, owner: bool, open_reviews: u32, last_assigned: Option<i64>, away: bool) -> Candidate {
    Candidate { person: person.to_owned(), owner, open_reviews, last_assigned, away }
}

fn check_rank(candidates: Vec<Candidate>, expected: &[&str]) {
    let ranked: Vec<String> = rank(candidates).into_iter().map(|candidate| candidate.person).collect();
    assert_eq!(ranked, expected);
}

#[test]
fn routing() {
    // Owners first, whatever their load.
    check_rank(
        vec![candidate("carol", false, 0, None, false), candidate("alice", true, 5, Some(9), false)],
        &["alice", "carol"],
    );
    // Then the lighter load.
    check_rank(
        vec![candidate("carol", false, 2, None, false), candidate("erin", false, 1, Some(9), false)],
        &["erin", "carol"],
    );
    // Then the least recently assigned; never assigned comes first.
    check_rank(
        vec![
            candidate("carol", false, 1, Some(20), false),
            candidate("erin", false, 1, Some(10), false),
            candidate("zed", false, 1, None, false),
        ],
        &["zed", "erin", "carol"],
    );
    // Ties break by id, so every node picks the same person.
    check_rank(
        vec![candidate("erin", false, 0, None, false), candidate("carol", false, 0, None, false)],
        &["carol", "erin"],
    );
    // Away people are never routed to, owners included.
    check_rank(vec![candidate("alice", true, 0, None, true), candidate("carol", false, 3, None, false)], &["carol"]);
    check_rank(vec![candidate("alice", true, 0, None, true)], &[]);
}
