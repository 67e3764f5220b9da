//! Which commit of a change wrote each line it adds: a blame bounded by the change, so its cost
//! follows the change, not the history. Lines are followed through every commit of the range
//! that touched their file; at a merge, a line the first parent lacks is taken from whichever
//! other parent has it, else the merge wrote it.

use std::collections::HashMap;

use countersign_core::model::{AddedLines, Commit};
use gix::ObjectId;

use crate::{Repo, Result, parse_id};

/// A file as a commit left it: its bytes, and for each line the commit (index into the
/// change's commits) that wrote it with the line's number in that commit's version, `None`
/// before the change.
#[derive(Clone)]
struct Version {
    data: std::rc::Rc<Vec<u8>>,
    origins: Vec<Option<(usize, u32)>>,
}

impl Repo {
    /// For each text file a change adds lines to (`added`: its path and the lines, 0-based in
    /// the head's file): those lines (1-based) with the commit of `commits` that wrote each.
    /// `commits` are the change's commits, newest first, with their changed paths.
    pub(crate) fn line_origins(&self, commits: &[Commit], added: Vec<(String, Vec<u32>)>) -> Result<Vec<AddedLines>> {
        let index: HashMap<ObjectId, usize> = commits
            .iter()
            .enumerate()
            .filter_map(|(position, commit)| parse_id(&commit.id).ok().map(|id| (id, position)))
            .collect();
        let Some(head) = commits.first().and_then(|commit| parse_id(&commit.id).ok()) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(added.len());
        for (path, lines) in added {
            let writers: Vec<usize> = commits
                .iter()
                .enumerate()
                .filter(|(_, commit)| commit.files.iter().any(|file| file.path == path))
                .map(|(position, _)| position)
                .collect();
            // One commit of the change touched the file: every line the change adds is its own.
            let origins: Vec<Option<(usize, u32)>> = if let [only] = writers[..] {
                // The file is as that commit left it: the same line numbers.
                (0..lines.iter().max().map_or(0, |last| *last + 1)).map(|line| Some((only, line))).collect()
            } else {
                let mut follow = Follow { repo: self, path: &path, commits, index: &index, versions: HashMap::new() };
                follow.version_at(head)?.origins
            };
            let lines = lines
                .into_iter()
                .map(|line| {
                    let origin = origins.get(line as usize).copied().flatten();
                    (line + 1, origin.map(|(position, at)| (commits[position].id.clone(), at + 1)))
                })
                .collect();
            out.push(AddedLines { path, lines });
        }
        Ok(out)
    }
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
        let mut origins: Vec<Option<(usize, u32)>> =
            (0..line_count(&data) as u32).map(|line| Some((position, line))).collect();
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
