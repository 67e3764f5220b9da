//! Which earlier commits a fix repaired (the SZZ approach): the lines a fix removes or changes,
//! blamed at its parent within a window. Blank lines and lines the fix only moves or re-indents
//! (their text, trimmed, comes back among its added lines) are no evidence.

use std::collections::HashSet;

use gix::ObjectId;

use crate::patch::{Tag, patch};
use crate::{Repo, Result, parse_id};

/// A line a fix removed at its parent, and the commit that had written it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Introduced {
    pub commit: String,
    pub path: String,
    /// 1-based, in the fix's parent.
    pub line: u32,
}

/// Files larger than this are not blamed.
const MAX_BLAMED_BYTES: u64 = 1024 * 1024;

impl Repo {
    /// The commits of the `window_days` before `fix` that wrote the lines it removed or changed.
    pub fn fixed_lines(&self, fix: ObjectId, window_days: u32) -> Result<Vec<Introduced>> {
        let commit = self.read_commit(fix)?;
        let Some(parent) = commit.parents.first() else { return Ok(Vec::new()) };
        let parent = parse_id(parent)?;
        let (_, changes) = self.diff_trees(self.tree_of(parent)?, self.tree_of(fix)?, crate::Lines::Skip)?;
        let mut removed: Vec<(String, Vec<u32>)> = Vec::new();
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
            let hunks = patch(&before, &after).hunks;
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
            if !lines.is_empty() {
                removed.push((change.path, lines));
            }
        }
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let since = commit.time - i64::from(window_days) * 86_400;
        let history = self.recent_history(parent, since, |_| true, |_| false, 100_000)?;
        let origins = self.line_origins(&history.commits, removed)?;
        Ok(origins
            .into_iter()
            .flat_map(|file| {
                let path = file.path;
                file.lines.into_iter().filter_map(move |(line, origin)| {
                    origin.map(|(commit, _)| Introduced { commit, path: path.clone(), line })
                })
            })
            .collect())
    }
}
