//! Why an artifact was refused ([`Rejection`], one variant per check) and why a read stopped
//! ([`ReadError`]); I/O errors met inside the artifact are turned into rejections here.

use std::io;

use thiserror::Error;

use super::{Compression, EntryNameError, HeaderError, SinkError, TarEnd, tar_rules, version};
use crate::policy::PolicyError;
use crate::signature::ManifestRejection;
use crate::stream::{Sha256Digest, StreamError};

/// Why an artifact was refused. Every variant names the entry and the check.
#[derive(Debug, Error)]
pub enum Rejection {
    /// An entry is missing, out of order or unknown.
    #[error("unexpected entry '{}' (expected {expected})", crate::error::escape::escaped(.found))]
    UnexpectedEntry {
        /// What came.
        found: String,
        /// What the layout requires here.
        expected: &'static str,
    },
    /// The archive ended before a required entry.
    #[error("artifact ends before {0}")]
    MissingEntry(&'static str),
    /// The payload comes where the header must stand (spec §1.2).
    #[error(
        "the artifact has no header: '{}' comes where 'header.tar[.gz|.xz|.zst]' must stand",
        crate::error::escape::escaped(.0)
    )]
    MissingHeader(String),
    /// An outer entry of zero bytes where content is required.
    #[error(
        "entry '{}' is empty (0 bytes); {}",
        crate::error::escape::escaped(.entry),
        .needs
    )]
    EmptyEntry {
        /// Entry name.
        entry: String,
        /// What it must hold.
        needs: &'static str,
    },
    /// A compressed stream that stops before its end marker.
    #[error(
        "'{}' is cut short: its compressed stream stops before its end marker",
        crate::error::escape::escaped(.0)
    )]
    StreamCut(String),
    /// Not the artifact that was inspected (`--expect-manifest-sha256`).
    #[error(
        "this is not the inspected artifact: its manifest's SHA-256 is {found}, expected {expected} \
         (the signature is valid, but another artifact was asked for)"
    )]
    NotInspected {
        /// The SHA-256 asked for.
        expected: String,
        /// This artifact's.
        found: String,
    },
    /// An entry seen twice.
    #[error("entry '{}' appears twice", crate::error::escape::escaped(.0))]
    DuplicateEntry(String),
    /// Augmented artifacts are not supported (their augment header is unsigned, spec §2).
    #[error("augmented artifacts are not supported (entry '{}')", crate::error::escape::escaped(.0))]
    Augmented(String),
    /// More than one payload.
    #[error("a second payload '{}' is not supported; artifacts carry exactly one", crate::error::escape::escaped(.0))]
    SecondPayload(String),
    /// A member that is not a regular file.
    #[error("{container} member '{}' is a {kind}; only regular files are allowed", crate::error::escape::escaped(.entry))]
    NotRegular {
        /// Which tar.
        container: &'static str,
        /// Member name.
        entry: String,
        /// Its type.
        kind: String,
    },
    /// A member with a dangerous name.
    #[error("{container} member '{}': {reason}", crate::error::escape::escaped(.entry))]
    BadEntryName {
        /// Which tar.
        container: &'static str,
        /// Member name (lossy).
        entry: String,
        /// Why.
        reason: EntryNameError,
    },
    /// A payload file name that is not one plain component.
    #[error("payload file '{}': {reason}", crate::error::escape::escaped(.entry))]
    BadPayloadName {
        /// Member name.
        entry: String,
        /// Why.
        reason: crate::artifact::file_names::NameError,
    },
    /// A compression suffix that lies about the content.
    #[error("entry '{}' is named {named} but its content is {found}", crate::error::escape::escaped(.entry))]
    SuffixMismatch {
        /// Entry name.
        entry: String,
        /// What the name says.
        named: Compression,
        /// What the content is.
        found: Compression,
    },
    /// A buffered entry over its size limit.
    #[error("entry '{}' is larger than the limit of {limit} bytes", crate::error::escape::escaped(.entry))]
    EntryTooLarge {
        /// Entry.
        entry: String,
        /// Limit.
        limit: u64,
    },
    /// The whole artifact is over the size limit.
    #[error("artifact is larger than the limit of {0} bytes")]
    ArtifactTooLarge(u64),
    /// A compressed member inflated past the ratio guard.
    #[error("'{}' inflates more than {limit}:1 ({inflated} bytes from {compressed} compressed bytes; limit max_inflate_ratio)"
    , crate::error::escape::escaped(.entry))]
    InflateRatio {
        /// The compressed member.
        entry: String,
        /// The guard's ratio.
        limit: u64,
        /// Bytes produced.
        inflated: u64,
        /// Compressed bytes consumed.
        compressed: u64,
    },
    /// A member ended before its declared size.
    #[error("'{}' is truncated: {found} of {expected} bytes", crate::error::escape::escaped(.entry))]
    Truncated {
        /// Entry.
        entry: String,
        /// Declared.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// A tar or compressed stream is broken.
    #[error("{container} is malformed: {detail}")]
    Malformed {
        /// Which part.
        container: String,
        /// Decoder message.
        detail: String,
    },
    /// A PAX extended header with a malformed record (refused, never repaired).
    #[error("{container}: {pax}")]
    BadPax {
        /// Which tar: `artifact` or the payload container's name, quoted.
        container: String,
        /// The member and the record.
        pax: tar_rules::BadPax,
    },
    /// The end of a tar stream is not clean.
    #[error("{container}: {end}")]
    BadEnd {
        /// Which tar.
        container: String,
        /// What is wrong.
        end: TarEnd,
    },
    /// Signature or manifest refused.
    #[error(transparent)]
    Manifest(#[from] ManifestRejection),
    /// A hash does not match the manifest.
    #[error("checksum mismatch for '{}': manifest has {expected}, content is {found}", crate::error::escape::escaped(.entry))]
    ChecksumMismatch {
        /// Manifest path.
        entry: String,
        /// Hex digest from the manifest.
        expected: String,
        /// Hex digest of the content.
        found: String,
    },
    /// The manifest covers another header name than the artifact carries.
    #[error("the manifest covers '{}' but the artifact's header is '{}'", crate::error::escape::escaped(.manifest), crate::error::escape::escaped(.artifact))]
    HeaderNotCovered {
        /// Manifest's header line.
        manifest: String,
        /// Outer entry name.
        artifact: String,
    },
    /// The `version` entry is not acceptable.
    #[error(transparent)]
    Version(#[from] version::VersionError),
    /// The header is not acceptable.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The artifact is not for this device.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A payload file the manifest does not list (MEN-9109, spec §10).
    #[error("payload file 'data/0000/{}' is not listed in the manifest", crate::error::escape::escaped(.0))]
    UnlistedFile(String),
    /// A payload file twice.
    #[error("payload file 'data/0000/{}' appears twice", crate::error::escape::escaped(.0))]
    DuplicateFile(String),
    /// Files the manifest lists that never arrived.
    #[error(
        "manifest lists files the payload does not contain: {}",
        crate::error::escape::quoted_list(.0)
    )]
    MissingFiles(Vec<String>),
    /// The manifest and the payload type disagree.
    #[error("payload type {payload_type}: {problem}")]
    PayloadShape {
        /// The payload type.
        payload_type: String,
        /// What is wrong.
        problem: String,
    },
}

/// Why reading stopped.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The artifact is bad (exit 1).
    #[error("{0}")]
    Rejected(#[from] Rejection),
    /// The input could not be read (exit 3).
    #[error("reading the artifact failed: {0}")]
    Io(io::Error),
    /// The sink failed.
    #[error("payload consumer failed: {0}")]
    Sink(SinkError),
}

pub(super) fn compare(
    entry: &str,
    expected: &Sha256Digest,
    found: &Sha256Digest,
) -> Result<(), Rejection> {
    if expected == found {
        Ok(())
    } else {
        Err(Rejection::ChecksumMismatch {
            entry: entry.to_owned(),
            expected: hex::encode(expected),
            found: hex::encode(found),
        })
    }
}

/// Turns an `io::Error` met while reading `entry` into the right outcome.
pub(crate) fn io_error(entry: &str, err: io::Error) -> ReadError {
    match StreamError::recover(err) {
        StreamError::Source(e) => ReadError::Io(e),
        StreamError::TooLarge { limit } => Rejection::ArtifactTooLarge(limit).into(),
        StreamError::InflateRatio {
            limit,
            inflated,
            compressed,
        } => Rejection::InflateRatio {
            entry: entry.to_owned(),
            limit,
            inflated,
            compressed,
        }
        .into(),
        StreamError::Cut => Rejection::StreamCut(entry.to_owned()).into(),
        StreamError::Truncated { expected, found } => Rejection::Truncated {
            entry: entry.to_owned(),
            expected,
            found,
        }
        .into(),
        StreamError::BadPax(pax) => Rejection::BadPax {
            container: if entry == "artifact" {
                "artifact".to_owned()
            } else {
                crate::error::escape::quoted(entry).to_string()
            },
            pax,
        }
        .into(),
        StreamError::Malformed(detail) => Rejection::Malformed {
            container: crate::error::escape::quoted(entry).to_string(),
            detail,
        }
        .into(),
    }
}
