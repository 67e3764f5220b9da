//! Which earlier changes a fix repaired (the SZZ approach): the lines a fix removes or changes are
//! blamed back along the first-parent history, ignoring whitespace, within a window. Blank lines
//! and lines the fix only moves or re-indents (their text, trimmed, comes back among its added
//! lines) are no evidence.
//!
//! The blame is per change (one first-parent step, a merge or a single commit), the unit a gate
//! judges, and it follows only the steps that touched the file, from an index the replay builds as
//! it reads the history: no walk and no tree diff per fix.

use std::collections::{HashMap, HashSet};

use gix::ObjectId;

use crate::patch::{Tag, patch};
use crate::{Repo, Result, parse_id};

/// A line a fix removed, and the change that had written it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introduced {
    /// The first-parent commit of the change that wrote the line.
    pub change: String,
    pub path: String,
    /// 1-based, in the fix's parent.
    pub line: u32,
}

/// Files larger than this are not blamed.
const MAX_BLAMED_BYTES: u64 = 1024 * 1024;

/// The first-parent steps of a history, oldest first, with the paths each changed.
#[derive(Default)]
pub struct FirstParentIndex {
    steps: Vec<Step>,
    by_path: HashMap<String, Vec<u32>>,
}

struct Step {
    head: ObjectId,
    base: Option<ObjectId>,
    time: i64,
}

impl FirstParentIndex {
    /// Adds the next step: `head` over its first parent `base`, changing `paths`. Returns its
    /// position.
    pub fn push<'a>(
        &mut self,
        head: ObjectId,
        base: Option<ObjectId>,
        time: i64,
        paths: impl IntoIterator<Item = &'a str>,
    ) -> usize {
        let position = self.steps.len();
        self.steps.push(Step { head, base, time });
        for path in paths {
            let steps = self.by_path.entry(path.to_owned()).or_default();
            if steps.last() != Some(&(position as u32)) {
                steps.push(position as u32);
            }
        }
        position
    }

    /// The steps before `position` that changed `path`, newest first, from `since` on.
    fn touching<'a>(&'a self, path: &str, position: usize, since: i64) -> impl Iterator<Item = &'a Step> + 'a {
        let steps = self.by_path.get(path).map_or(&[][..], Vec::as_slice);
        let end = steps.partition_point(|step| (*step as usize) < position);
        steps[..end].iter().rev().map(|step| &self.steps[*step as usize]).take_while(move |step| step.time >= since)
    }
}

/// Lines compared without their leading and trailing whitespace, as `git blame -w` does.
struct Trimmed<'a>(&'a [u8]);

impl<'a> imara_diff::TokenSource for Trimmed<'a> {
    type Token = &'a [u8];
    type Tokenizer = std::iter::Map<imara_diff::sources::ByteLines<'a>, fn(&'a [u8]) -> &'a [u8]>;

    fn tokenize(&self) -> Self::Tokenizer {
        imara_diff::sources::byte_lines(self.0).map(<[u8]>::trim_ascii)
    }

    fn estimate_tokens(&self) -> u32 {
        imara_diff::TokenSource::estimate_tokens(&imara_diff::sources::byte_lines(self.0))
    }
}

/// For each line of `after`, its number in `before` when the (whitespace-blind) diff keeps it.
fn kept_lines(before: &[u8], after: &[u8]) -> Vec<Option<u32>> {
    let input = imara_diff::InternedInput::new(Trimmed(before), Trimmed(after));
    let diff = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
    let mut kept = vec![None; input.after.len()];
    let (mut old, mut new) = (0u32, 0u32);
    for hunk in diff.hunks() {
        while new < hunk.after.start {
            kept[new as usize] = Some(old);
            old += 1;
            new += 1;
        }
        old = hunk.before.end;
        new = hunk.after.end;
    }
    while (new as usize) < kept.len() {
        kept[new as usize] = Some(old);
        old += 1;
        new += 1;
    }
    kept
}

impl Repo {
    /// The changes of the `window_days` before `fix` that wrote the lines it removed or changed.
    /// `position` is the index step of the change that brought `fix`; lines written within that
    /// change (a fix of its own earlier commit) are no evidence.
    pub fn fixed_lines(
        &self,
        index: &FirstParentIndex,
        fix: ObjectId,
        position: usize,
        window_days: u32,
    ) -> Result<Vec<Introduced>> {
        let Some(step) = index.steps.get(position) else { return Ok(Vec::new()) };
        let commit = self.read_commit(fix)?;
        let Some(parent) = commit.parents.first() else { return Ok(Vec::new()) };
        let parent = parse_id(parent)?;
        let Some(base) = step.base else { return Ok(Vec::new()) };
        let since = commit.time - i64::from(window_days) * 86_400;
        let (_, changes) = self.diff_trees(self.tree_of(parent)?, self.tree_of(fix)?, crate::Lines::Skip)?;
        let mut found = Vec::new();
        for change in changes {
            let blob = |id: &Option<String>| id.as_deref().and_then(|id| ObjectId::from_hex(id.as_bytes()).ok());
            let (Some(old), Some(new)) = (blob(&change.old_id), blob(&change.new_id)) else { continue };
            if [old, new].iter().any(|id| self.blob_size(*id).map_or(true, |size| size > MAX_BLAMED_BYTES)) {
                continue;
            }
            let (before, after) = (self.blob_data(Some(old))?, self.blob_data(Some(new))?);
            if before.contains(&0) || after.contains(&0) {
                continue;
            }
            let removed = removed_lines(&before, &after);
            if removed.is_empty() {
                continue;
            }
            // The lines as they stood before the fix's change: what the change itself wrote
            // before the fix is not an earlier change's.
            let (mut current, mut lines): (Vec<u8>, Vec<(u32, u32)>) = if parent == base {
                (before, removed.iter().map(|line| (*line, *line)).collect())
            } else {
                let Some(at_base) = self.read_file_bytes_at(base, &change.path)? else { continue };
                let kept = kept_lines(&at_base, &before);
                let lines =
                    removed.iter().filter_map(|line| kept.get(*line as usize).copied().flatten().map(|at| (*line, at)));
                (at_base, lines.collect())
            };
            // Back through the steps that changed the file: a line a step added is its own.
            for earlier in index.touching(&change.path, position, since) {
                if lines.is_empty() {
                    break;
                }
                let older = match earlier.base {
                    Some(base) => self.read_file_bytes_at(base, &change.path)?.unwrap_or_default(),
                    None => Vec::new(),
                };
                let kept = kept_lines(&older, &current);
                lines.retain_mut(|(line, at)| match kept.get(*at as usize).copied().flatten() {
                    Some(before) => {
                        *at = before;
                        true
                    }
                    None => {
                        found.push(Introduced {
                            change: earlier.head.to_string(),
                            path: change.path.clone(),
                            line: *line + 1,
                        });
                        false
                    }
                });
                current = older;
            }
        }
        Ok(found)
    }
}

/// The 0-based lines of `before` that `after` removes or changes, other than blank lines and
/// lines whose trimmed text comes back among the added ones (moves, re-indents).
fn removed_lines(before: &[u8], after: &[u8]) -> Vec<u32> {
    let hunks = patch(before, after).hunks;
    let added: HashSet<&[u8]> = hunks
        .iter()
        .flat_map(|hunk| hunk.lines.iter())
        .filter(|(tag, _)| *tag == Tag::Added)
        .map(|(_, text)| text.trim_ascii())
        .collect();
    let mut lines = Vec::new();
    for hunk in &hunks {
        let mut at = hunk.before_start.saturating_sub(1);
        for (tag, text) in &hunk.lines {
            match tag {
                Tag::Context => at += 1,
                Tag::Removed => {
                    let text = text.trim_ascii();
                    if !text.is_empty() && !added.contains(text) {
                        lines.push(at);
                    }
                    at += 1;
                }
                Tag::Added => {}
            }
        }
    }
    lines
}
