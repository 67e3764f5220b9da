//! Reading untrusted files with a limit enforced while reading: only regular files (a FIFO would
//! wait forever, a device would never end), never more than the limit plus one byte.

use std::io::Read;
use std::path::Path;

/// Why a file could not be read within bounds; the message names the file and the limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BoundedError {
    #[error("{0} does not exist")]
    Missing(String),
    #[error("{path} is not a regular file ({kind}); write it to a file first")]
    NotAFile { path: String, kind: &'static str },
    #[error("{path} is larger than the {limit} bytes countersign reads{hint}")]
    TooLarge { path: String, limit: u64, hint: String },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: line {line} is not UTF-8 text")]
    NotText { path: String, line: usize },
}

/// The bytes of a regular file of at most `limit` bytes. `hint` says how to raise the limit,
/// where raising it is legitimate.
pub fn read_bytes(path: &Path, limit: u64, hint: &str) -> Result<Vec<u8>, BoundedError> {
    let shown = path.display().to_string();
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(BoundedError::Missing(shown)),
        Err(error) => return Err(BoundedError::Io { path: shown, message: error.to_string() }),
    };
    if !metadata.is_file() {
        let kind = file_kind(&metadata);
        return Err(BoundedError::NotAFile { path: shown, kind });
    }
    let too_large = || BoundedError::TooLarge { path: shown.clone(), limit, hint: hint.to_owned() };
    if metadata.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path)
        .map_err(|error| BoundedError::Io { path: shown.clone(), message: error.to_string() })?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| BoundedError::Io { path: shown.clone(), message: error.to_string() })?;
    // The file may have grown since its size was read.
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_bytes`] as UTF-8 text; invalid UTF-8 is reported with its line.
pub fn read_text(path: &Path, limit: u64, hint: &str) -> Result<String, BoundedError> {
    let bytes = read_bytes(path, limit, hint)?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        BoundedError::NotText {
            path: path.display().to_string(),
            line: valid.iter().filter(|byte| **byte == b'\n').count() + 1,
        }
    })
}

fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Configuration files larger than this are refused: a directory of thousands of people fits.
pub const MAX_CONFIG_BYTES: u64 = 8 * 1024 * 1024;

/// GitHub ignores a CODEOWNERS file of 3 MB or more; countersign refuses to decide on one.
pub const MAX_CODEOWNERS_BYTES: u64 = 3 * 1000 * 1000;
