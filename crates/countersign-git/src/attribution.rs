//! Which commit of a change wrote each line it adds: a blame bounded by the change, so its cost
//! follows the change, not the history. Lines are followed through every commit of the range
//! that touched their file; at a merge, a line the first parent lacks is taken from whichever
//! other parent has it, else the merge wrote it.

use std::collections::HashMap;

use countersign_core::model::{AddedLines, Commit};
use gix::ObjectId;

use crate::{MAX_DIFF_BYTES, Repo, Result, parse_id};

/// A file as a commit left it: its bytes, and for each line the commit (index into the
/// change's commits) that wrote it, `None` before the change.
#[derive(Clone)]
struct Version {
    data: std::rc::Rc<Vec<u8>>,
    origins: Vec<Option<usize>>,
}

impl Repo {
    /// For each text file the change `base..head` adds lines to: those lines (1-based, in the
    /// head's file) with the commit that wrote each. `commits` are the change's commits with
    /// their changed paths; files too large to diff or binary are left out.
    pub fn added_line_origins(&self, base: ObjectId, head: ObjectId, commits: &[Commit]) -> Result<Vec<AddedLines>> {
        let index: HashMap<ObjectId, usize> = commits
            .iter()
            .enumerate()
            .filter_map(|(position, commit)| parse_id(&commit.id).ok().map(|id| (id, position)))
            .collect();
        let (_, changes) = self.diff_trees(self.tree_of(base)?, self.tree_of(head)?, crate::Lines::Skip)?;
        let mut out = Vec::new();
        for change in changes {
            let Some(new_id) = change.new_id.as_deref().and_then(|id| ObjectId::from_hex(id.as_bytes()).ok()) else {
                continue;
            };
            let old = change.old_id.as_deref().and_then(|id| ObjectId::from_hex(id.as_bytes()).ok());
            let (Some(after), Some(before)) = (self.text_blob(Some(new_id))?, self.text_blob(old)?) else { continue };
            let added = added_indices(&before, &after);
            if added.is_empty() {
                continue;
            }
            let mut follow =
                Follow { repo: self, path: &change.path, commits, index: &index, versions: HashMap::new() };
            let version = follow.version_at(head)?;
            let lines = added
                .into_iter()
                .map(|line| {
                    let origin = version.origins.get(line as usize).copied().flatten();
                    (line + 1, origin.map(|position| commits[position].id.clone()))
                })
                .collect();
            out.push(AddedLines { path: change.path, lines });
        }
        Ok(out)
    }

    /// A blob's bytes when it is text small enough to diff (an absent blob is empty text).
    fn text_blob(&self, id: Option<ObjectId>) -> Result<Option<Vec<u8>>> {
        let Some(id) = id else { return Ok(Some(Vec::new())) };
        if self.blob_size(id)? > MAX_DIFF_BYTES as u64 {
            return Ok(None);
        }
        let data = self.blob_data(Some(id))?;
        Ok((!data[..data.len().min(8000)].contains(&0)).then_some(data))
    }
}

/// The lines (0-based, in `after`) that a diff from `before` adds.
fn added_indices(before: &[u8], after: &[u8]) -> Vec<u32> {
    let input = imara_diff::InternedInput::new(before, after);
    let mut diff = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    diff.hunks().flat_map(|hunk| hunk.after).collect()
}

/// Follows one path through the change's commits, remembering each commit's version.
struct Follow<'a> {
    repo: &'a Repo,
    path: &'a str,
    commits: &'a [Commit],
    index: &'a HashMap<ObjectId, usize>,
    versions: HashMap<ObjectId, Version>,
}

impl Follow<'_> {
    /// The file at `commit`, with the origin of each line. Commits outside the change hold
    /// lines from before it; a commit that did not touch the file has its first parent's.
    fn version_at(&mut self, commit: ObjectId) -> Result<Version> {
        // Iterative over first parents that left the file alone, so a long change cannot
        // recurse deeply.
        let mut pending = Vec::new();
        let mut at = commit;
        let version = loop {
            if let Some(known) = self.versions.get(&at) {
                break known.clone();
            }
            let Some(&position) = self.index.get(&at) else {
                let data = self.repo.read_file_bytes_at(at, self.path)?.unwrap_or_default();
                let lines = line_count(&data);
                break Version { data: std::rc::Rc::new(data), origins: vec![None; lines] };
            };
            let commit = &self.commits[position];
            let parents: Vec<ObjectId> = commit.parents.iter().filter_map(|parent| parse_id(parent).ok()).collect();
            // A commit (a merge too) that left the file as its first parent had it keeps that
            // parent's lines, and their origins.
            let touched = commit.files.iter().any(|file| file.path == self.path);
            match parents.first() {
                Some(first) if !touched => {
                    pending.push(at);
                    at = *first;
                }
                _ => break self.written_by(at, position, &parents)?,
            }
        };
        self.versions.insert(at, version.clone());
        for unchanged in pending {
            self.versions.insert(unchanged, version.clone());
        }
        Ok(version)
    }

    /// The file as commit `id` (the change's `position`-th) wrote it over its parents.
    fn written_by(&mut self, id: ObjectId, position: usize, parents: &[ObjectId]) -> Result<Version> {
        let data = self.repo.read_file_bytes_at(id, self.path)?.unwrap_or_default();
        let mut origins = vec![Some(position); line_count(&data)];
        let mut claimed = vec![false; origins.len()];
        for parent in parents {
            let before = self.version_at(*parent)?;
            let input = imara_diff::InternedInput::new(before.data.as_slice(), data.as_slice());
            let diff = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
            // Lines the diff keeps come from this parent, unless an earlier parent had them.
            let (mut old, mut new) = (0u32, 0u32);
            let mut keep = |old: u32, new: u32, claimed: &mut Vec<bool>| {
                let new = new as usize;
                if new < origins.len() && !claimed[new] {
                    origins[new] = before.origins.get(old as usize).copied().flatten();
                    claimed[new] = true;
                }
            };
            for hunk in diff.hunks() {
                while new < hunk.after.start {
                    keep(old, new, &mut claimed);
                    old += 1;
                    new += 1;
                }
                old = hunk.before.end;
                new = hunk.after.end;
            }
            while (new as usize) < claimed.len() {
                keep(old, new, &mut claimed);
                old += 1;
                new += 1;
            }
        }
        Ok(Version { data: std::rc::Rc::new(data), origins })
    }
}

fn line_count(data: &[u8]) -> usize {
    let newlines = data.iter().filter(|byte| **byte == b'\n').count();
    newlines + usize::from(data.last().is_some_and(|byte| *byte != b'\n'))
}
