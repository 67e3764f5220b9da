//! A file's change as a reviewer reads it: hunks of removed and added lines with three lines of
//! context, and what identifies it. The identity leaves out line numbers (as git's stable
//! patch-id does), so the same edit rebased onto a file that moved elsewhere keeps it, while any
//! other change to the diff, whitespace and line endings included, does not.

use sha2::{Digest, Sha256};

/// Unchanged lines kept around each hunk; hunks closer than twice this are one hunk.
const CONTEXT: u32 = 3;

/// What a line of a hunk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Context,
    Removed,
    Added,
}

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Tag::Context => b' ',
            Tag::Removed => b'-',
            Tag::Added => b'+',
        }
    }
}

/// One hunk: where it stands (1-based, for display only) and its lines with their terminators.
#[derive(Debug)]
pub struct Hunk<'a> {
    pub before_start: u32,
    pub before_len: u32,
    pub after_start: u32,
    pub after_len: u32,
    pub lines: Vec<(Tag, &'a [u8])>,
}

/// The hunks of a text file's change, and its line counts.
#[derive(Debug)]
pub struct Patch<'a> {
    pub hunks: Vec<Hunk<'a>>,
    pub added: u32,
    pub removed: u32,
    /// The added lines, 0-based in `after`.
    pub added_lines: Vec<u32>,
}

/// The patch from `before` to `after`, lines split after `\n` (a missing final newline is part
/// of the last line, so adding one is a change).
pub fn patch<'a>(before: &'a [u8], after: &'a [u8]) -> Patch<'a> {
    let input = imara_diff::InternedInput::new(before, after);
    let mut diff = imara_diff::Diff::compute(imara_diff::Algorithm::Histogram, &input);
    // Slide ambiguous hunks to one canonical place, so equal edits give equal hunks.
    diff.postprocess_lines(&input);
    let changed: Vec<imara_diff::Hunk> = diff.hunks().collect();
    let line = |tokens: &[imara_diff::Token], index: u32| -> &'a [u8] { input.interner[tokens[index as usize]] };
    let before_len = input.before.len() as u32;
    let mut hunks = Vec::new();
    let mut start = 0;
    while start < changed.len() {
        // Gather the hunks whose context would touch.
        let mut end = start + 1;
        while end < changed.len() && changed[end].before.start - changed[end - 1].before.end <= 2 * CONTEXT {
            end += 1;
        }
        let group = &changed[start..end];
        let lead = group[0].before.start.min(CONTEXT);
        let tail_end = (group[end - start - 1].before.end + CONTEXT).min(before_len);
        let mut lines = Vec::new();
        for index in group[0].before.start - lead..group[0].before.start {
            lines.push((Tag::Context, line(&input.before, index)));
        }
        for (position, hunk) in group.iter().enumerate() {
            lines.extend(hunk.before.clone().map(|index| (Tag::Removed, line(&input.before, index))));
            lines.extend(hunk.after.clone().map(|index| (Tag::Added, line(&input.after, index))));
            let until = group.get(position + 1).map_or(tail_end, |next| next.before.start);
            lines.extend((hunk.before.end..until).map(|index| (Tag::Context, line(&input.before, index))));
        }
        let count = |tags: &[Tag]| lines.iter().filter(|(tag, _)| tags.contains(tag)).count() as u32;
        hunks.push(Hunk {
            before_start: group[0].before.start - lead + 1,
            before_len: count(&[Tag::Context, Tag::Removed]),
            after_start: group[0].after.start - lead + 1,
            after_len: count(&[Tag::Context, Tag::Added]),
            lines,
        });
        start = end;
    }
    let added_lines = changed.iter().flat_map(|hunk| hunk.after.clone()).collect();
    Patch { hunks, added: diff.count_additions(), removed: diff.count_removals(), added_lines }
}

/// What identifies a file's change, whatever its path: its modes and its hunks, or the blob ids
/// of a file that is not diffed as text (binary, too large, a link, a submodule).
pub enum Content<'p, 'a> {
    Hunks(&'p Patch<'a>),
    Blobs { old: Option<String>, new: Option<String> },
}

/// `sha256:<hex>` of a file's change: `old mode`, `new mode` (`-` when absent) and the content,
/// each hunk line as its tag, its length and its bytes, so no two changes share an encoding.
pub fn digest(old_mode: Option<&str>, new_mode: Option<&str>, content: &Content<'_, '_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"countersign file change v2\0");
    hasher.update(old_mode.unwrap_or("-").as_bytes());
    hasher.update([0]);
    hasher.update(new_mode.unwrap_or("-").as_bytes());
    hasher.update([0]);
    match content {
        Content::Hunks(patch) => {
            hasher.update(b"hunks\0");
            for hunk in &patch.hunks {
                hasher.update(b"@");
                for (tag, text) in &hunk.lines {
                    hasher.update([tag.byte()]);
                    hasher.update((text.len() as u64).to_le_bytes());
                    hasher.update(text);
                }
            }
        }
        Content::Blobs { old, new } => {
            hasher.update(b"blobs\0");
            hasher.update(old.as_deref().unwrap_or("-").as_bytes());
            hasher.update([0]);
            hasher.update(new.as_deref().unwrap_or("-").as_bytes());
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The patch as `git diff` prints its hunks (`@@ -a,b +c,d @@` and prefixed lines), at most
/// `max_lines` lines of it; invalid UTF-8 is replaced.
pub fn unified(patch: &Patch<'_>, max_lines: usize) -> (String, bool) {
    let mut out = String::new();
    let mut written = 0;
    for hunk in &patch.hunks {
        if written >= max_lines {
            return (out, true);
        }
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            hunk.before_start, hunk.before_len, hunk.after_start, hunk.after_len
        ));
        written += 1;
        for (tag, text) in &hunk.lines {
            if written >= max_lines {
                return (out, true);
            }
            out.push(char::from(tag.byte()));
            let text = String::from_utf8_lossy(text);
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
            written += 1;
        }
    }
    (out, false)
}
