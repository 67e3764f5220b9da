//! A deployment range cut into the changes that were merged: each merge commit brings its
//! branch, a squash merge or a direct push is one commit, and commits pushed together in a row
//! (a rebase merge) are one change when somebody reviewed them together.

use std::collections::BTreeMap;

use countersign_core::evaluate::MergedKind;
use countersign_core::model::TreeChange;
use countersign_git::{ObjectId, Repo};

use crate::ReadError;

/// Commits of a rebase merge are looked at together at most this many at a time.
const MAX_SERIES: usize = 64;

/// Commits count as pushed together when each was committed this close after the previous one
/// by the same committer (a rebase merge rewrites them all in one go).
const SERIES_GAP_SECS: i64 = 120;

/// One change the range brought, before it is read.
#[derive(Clone, Debug)]
pub struct Cut {
    pub kind: MergedKind,
    /// Its commits on the first-parent line, oldest first.
    pub line: Vec<ObjectId>,
    /// Its content is `base..head` (from the empty tree without a base).
    pub base: Option<ObjectId>,
    pub head: ObjectId,
    pub title: String,
    /// For a merge that wrote content of its own: those paths.
    pub new_content: Vec<String>,
}

/// Cuts `base..head` (base an ancestor of head) into merged changes, oldest first. `reviewed`
/// says whether any source holds a statement about a fingerprint: it decides how a run of
/// single commits is grouped. `out_of_time` fails the read when the budget is spent.
pub fn cut(
    repo: &Repo,
    base: ObjectId,
    head: ObjectId,
    reviewed: &dyn Fn(&str) -> Result<bool, ReadError>,
    out_of_time: &dyn Fn() -> Result<(), ReadError>,
) -> Result<Vec<Cut>, ReadError> {
    let mut line = repo.first_parent_chain(&[head], &[base])?;
    line.reverse();
    let mut cuts = Vec::new();
    let mut run: Vec<ObjectId> = Vec::new();
    for id in line {
        out_of_time()?;
        let commit = repo.read_commit(id)?;
        if commit.parents.len() < 2 {
            run.push(id);
            continue;
        }
        cuts.extend(group_run(repo, &std::mem::take(&mut run), reviewed, out_of_time)?);
        cuts.push(merge(repo, id, &commit)?);
    }
    cuts.extend(group_run(repo, &run, reviewed, out_of_time)?);
    Ok(cuts)
}

/// A merge commit: its branch's change, unless the merge wrote content the branch did not have.
fn merge(repo: &Repo, id: ObjectId, commit: &countersign_core::model::Commit) -> Result<Cut, ReadError> {
    let title = subject(&commit.message);
    let parents: Vec<ObjectId> =
        commit.parents.iter().filter_map(|parent| ObjectId::from_hex(parent.as_bytes()).ok()).collect();
    let whole = |first: Option<ObjectId>, new_content: Vec<String>| Cut {
        kind: MergedKind::MergeWithNewContent,
        line: vec![id],
        base: first,
        head: id,
        title: title.clone(),
        new_content,
    };
    // An octopus merge is judged whole: which branch brought what is not recorded.
    let [first, second] = parents[..] else { return Ok(whole(parents.first().copied(), Vec::new())) };
    let Some(fork) = repo.merge_base(first, second)? else { return Ok(whole(Some(first), Vec::new())) };
    let brought = by_path(repo.tree_changes(Some(fork), second)?);
    let applied = by_path(repo.tree_changes(Some(first), id)?);
    // What the merge changed differently from the branch, and what of the branch it left out.
    let differing: Vec<String> = applied
        .iter()
        .filter(|(path, digest)| brought.get(*path) != Some(*digest))
        .map(|(path, _)| path.clone())
        .chain(brought.keys().filter(|path| !applied.contains_key(*path)).cloned())
        .collect();
    if differing.is_empty() {
        Ok(Cut {
            kind: MergedKind::Merge,
            line: vec![id],
            base: Some(fork),
            head: second,
            title,
            new_content: Vec::new(),
        })
    } else {
        Ok(whole(Some(first), differing))
    }
}

/// Single commits in a row: each its own change, except where a longer series of them, pushed
/// together, was reviewed as one (the longest such series wins).
fn group_run(
    repo: &Repo,
    run: &[ObjectId],
    reviewed: &dyn Fn(&str) -> Result<bool, ReadError>,
    out_of_time: &dyn Fn() -> Result<(), ReadError>,
) -> Result<Vec<Cut>, ReadError> {
    let mut cuts = Vec::new();
    let mut start = 0;
    while start < run.len() {
        let first = repo.read_commit(run[start])?;
        let base = first.parents.first().and_then(|parent| ObjectId::from_hex(parent.as_bytes()).ok());
        let mut end = start;
        let mut previous_time = repo.commit_time(run[start])?;
        for (next, &id) in run.iter().enumerate().take(start + MAX_SERIES).skip(start + 1) {
            out_of_time()?;
            let commit = repo.read_commit(id)?;
            let time = repo.commit_time(id)?;
            if commit.committer.email != first.committer.email || (time - previous_time).abs() > SERIES_GAP_SECS {
                break;
            }
            previous_time = time;
            let changes = repo.tree_changes(base, id)?;
            if reviewed(&countersign_core::fingerprint::fingerprint(&changes, &id.to_string()))? {
                end = next;
            }
        }
        cuts.push(Cut {
            kind: if end == start { MergedKind::Commit } else { MergedKind::Commits },
            line: run[start..=end].to_vec(),
            base,
            head: run[end],
            title: subject(&first.message),
            new_content: Vec::new(),
        });
        start = end + 1;
    }
    Ok(cuts)
}

fn by_path(changes: Vec<TreeChange>) -> BTreeMap<String, String> {
    changes.into_iter().map(|change| (change.path, change.digest)).collect()
}

fn subject(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().chars().take(120).collect()
}
