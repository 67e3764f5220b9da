//! The change fingerprint: what reviewers approve, independent of commit ids.

use sha2::{Digest, Sha256};

use crate::model::TreeChange;

/// SHA-256 over the sorted `(path, change digest)` list, as `sha256:<hex>`.
///
/// A path's digest covers its modes and hunks with their context but no line numbers, so the
/// fingerprint survives a clean rebase onto a target that moved elsewhere and a squash of the
/// same diff, like git's stable patch-id, and changes with any change to the diff itself. Each
/// entry is encoded as `path NUL digest LF` (paths are git's exact bytes and cannot hold NUL).
///
/// Every empty diff would share one fingerprint, so an approval of one no-op deployment would
/// approve every other; an empty change is instead bound to its head commit, `empty_head`.
pub fn fingerprint(changes: &[TreeChange], empty_head: &str) -> String {
    let mut hasher = Sha256::new();
    if changes.is_empty() {
        hasher.update(b"countersign empty change at ");
        hasher.update(empty_head.as_bytes());
        return format!("sha256:{}", hex::encode(hasher.finalize()));
    }
    let mut sorted: Vec<&TreeChange> = changes.iter().collect();
    sorted.sort_by(|a, b| a.path_bytes.cmp(&b.path_bytes).then_with(|| a.digest.cmp(&b.digest)));
    hasher.update(b"countersign change v2\n");
    for change in sorted {
        hasher.update(&change.path_bytes);
        hasher.update([0]);
        hasher.update(change.digest.as_bytes());
        hasher.update([b'\n']);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
