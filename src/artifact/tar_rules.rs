//! Rules every tar member of an artifact obeys (outer tar, header tar, payload tar), and the
//! end-of-archive check.
//!
//! Spec §1.2/§12.5: only regular files (no directories, links, devices, FIFOs, sparse files or
//! global PAX headers), names that are relative, NUL-free and without `..`, and after the
//! end-of-archive marker nothing but zero bytes. Tar parsing itself (ustar, GNU long names, PAX
//! records including sizes over 8 GiB) is the `tar` crate's.

use std::fmt;
use std::io::{self, Read};

use thiserror::Error;

/// Why a member name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryNameError {
    /// Not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// Empty.
    #[error("name is empty")]
    Empty,
    /// Contains NUL.
    #[error("name contains a NUL byte")]
    Nul,
    /// Starts with `/`.
    #[error("name is an absolute path")]
    Absolute,
    /// Has a `..` component.
    #[error("name contains a '..' component (path traversal)")]
    Traversal,
    /// Longer than the limit.
    #[error("name is longer than {0} bytes")]
    TooLong(usize),
}

/// The end of a tar stream was not clean.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TarEnd {
    /// The stream stopped without the two zero blocks that end a tar archive.
    #[error("no end-of-archive marker (stream truncated)")]
    MissingMarker,
    /// Non-zero bytes after the end-of-archive marker.
    #[error("non-zero data {offset} bytes after the end-of-archive marker")]
    TrailingData {
        /// Offset of the first non-zero byte, counted from after the first zero block.
        offset: u64,
    },
}

/// The member's path, checked. On error returns the lossy name with the reason.
pub(crate) fn member_name<R: Read>(
    entry: &tar::Entry<'_, R>,
    max_len: usize,
) -> Result<String, (String, EntryNameError)> {
    let raw = entry.path_bytes();
    let lossy = String::from_utf8_lossy(&raw).into_owned();
    let fail = |reason| Err((lossy.clone(), reason));
    if raw.contains(&0) {
        return fail(EntryNameError::Nul);
    }
    let Ok(name) = std::str::from_utf8(&raw) else {
        return fail(EntryNameError::NotUtf8);
    };
    if name.is_empty() {
        return fail(EntryNameError::Empty);
    }
    if name.len() > max_len {
        return fail(EntryNameError::TooLong(max_len));
    }
    if name.starts_with('/') {
        return fail(EntryNameError::Absolute);
    }
    if name.split('/').any(|c| c == "..") {
        return fail(EntryNameError::Traversal);
    }
    Ok(name.to_owned())
}

/// `Ok` for a regular file; otherwise the member's type, for the error message.
pub(crate) fn require_regular<R: Read>(entry: &tar::Entry<'_, R>) -> Result<(), String> {
    let kind = entry.header().entry_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(describe(kind).to_string())
    }
}

/// After the `tar` crate reported the end of the entries, checks what follows: at least the rest
/// of the two-block end marker, then only zeros. Reads `rest` to its end.
pub(crate) fn finish<R: Read>(rest: R) -> io::Result<Result<(), TarEnd>> {
    // The tar crate stops after the first zero block (or at EOF, having seen none); the second
    // zero block must still be there.
    Ok(match crate::io::drain_zeros(rest)? {
        Ok(zeros) if zeros >= 512 => Ok(()),
        Ok(_) => Err(TarEnd::MissingMarker),
        Err(offset) => Err(TarEnd::TrailingData { offset }),
    })
}

struct Kind(tar::EntryType);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let name = if t.is_dir() {
            "directory"
        } else if t.is_symlink() {
            "symbolic link"
        } else if t.is_hard_link() {
            "hard link"
        } else if t.is_character_special() {
            "character device"
        } else if t.is_block_special() {
            "block device"
        } else if t.is_fifo() {
            "FIFO"
        } else if t.is_gnu_sparse() {
            "GNU sparse file"
        } else if t.is_pax_global_extensions() {
            "PAX global header"
        } else {
            return write!(f, "tar type '{}'", char::from(t.as_byte()).escape_default());
        };
        f.write_str(name)
    }
}

fn describe(kind: tar::EntryType) -> Kind {
    Kind(kind)
}
