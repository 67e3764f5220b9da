//! The change fingerprint: what reviewers approve, independent of commit ids.

use sha2::{Digest, Sha256};

use crate::model::TreeChange;

/// SHA-256 over the sorted `(path, old blob, new blob, mode)` list, as `sha256:<hex>`.
///
/// Each entry is encoded as `path NUL old NUL new NUL mode LF` with `-` for a missing blob, so
/// no two different lists share an encoding (paths are git's exact bytes and cannot hold NUL).
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
    sorted.sort_by(|a, b| a.path_bytes.cmp(&b.path_bytes).then_with(|| a.cmp(b)));
    for change in sorted {
        hasher.update(&change.path_bytes);
        hasher.update([0]);
        hasher.update(change.old_id.as_deref().unwrap_or("-").as_bytes());
        hasher.update([0]);
        hasher.update(change.new_id.as_deref().unwrap_or("-").as_bytes());
        hasher.update([0]);
        hasher.update(change.mode.as_bytes());
        hasher.update([b'\n']);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}
