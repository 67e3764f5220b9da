//! The change fingerprint: what reviewers approve, independent of commit ids.

use sha2::{Digest, Sha256};

use crate::model::TreeChange;

/// SHA-256 over the sorted `(path, old blob, new blob, mode)` list, as `sha256:<hex>`.
///
/// Each entry is encoded as `path NUL old NUL new NUL mode LF` with `-` for a missing blob, so
/// no two different lists share an encoding (paths cannot hold NUL).
pub fn fingerprint(changes: &[TreeChange]) -> String {
    let mut sorted: Vec<&TreeChange> = changes.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for change in sorted {
        hasher.update(change.path.as_bytes());
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
