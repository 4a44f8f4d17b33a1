//! Why a header was refused: [`HeaderError`], naming the member and the check.

use thiserror::Error;

use super::payload_type_words;
use crate::artifact::compression::Compression;
use crate::artifact::file_names::NameError;
use crate::artifact::json::FieldProblem;
use crate::artifact::tar_rules::{EntryNameError, TarEnd};

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The header's compression does not match its name.
    #[error("header is named '{}' but its content is {found}", crate::error::escape::escaped(.name))]
    SuffixMismatch {
        /// Entry name.
        name: String,
        /// What the content is.
        found: Compression,
    },
    /// The tar or compressed stream inside the header is broken.
    #[error("header archive is malformed: {0}")]
    Malformed(String),
    /// A header member that is not a regular file.
    #[error("header member '{}' is not a regular file ({kind})", crate::error::escape::escaped(.member))]
    NotRegular {
        /// Member name.
        member: String,
        /// Its tar type.
        kind: String,
    },
    /// A header member with a dangerous or invalid name.
    #[error("header member '{}': {reason}", crate::error::escape::escaped(.name))]
    BadMemberName {
        /// The name, lossily decoded.
        name: String,
        /// Why.
        reason: EntryNameError,
    },
    /// A member that does not belong in a v3 header, or is out of order.
    #[error("header member '{}' is not allowed here (expected {expected})", crate::error::escape::escaped(.member))]
    UnexpectedMember {
        /// Member name.
        member: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `headers/0000/files` is a format-v2 member (spec §1.4).
    #[error("header member 'headers/0000/files' belongs to format version 2, not 3")]
    V2Files,
    /// The first payload's headers under another index than `0000`.
    #[error(
        "header member '{}' is at payload index {}, but the artifact's only payload is \
         0000 (expected 'headers/0000/type-info')",
        crate::error::escape::escaped(.member),
        crate::error::escape::escaped(.index)
    )]
    WrongIndex {
        /// Member name.
        member: String,
        /// The index it names.
        index: String,
    },
    /// A second payload's headers: only one payload is supported.
    #[error("header member '{}' describes a second payload; only one payload is supported", crate::error::escape::escaped(.0))]
    SecondPayload(String),
    /// A member appears twice.
    #[error("header member '{}' appears twice", crate::error::escape::escaped(.0))]
    Duplicate(String),
    /// A required member is missing.
    #[error("header has no '{}'", crate::error::escape::escaped(.0))]
    Missing(&'static str),
    /// A state script with an invalid name.
    #[error("state script '{}': {reason}", crate::error::escape::escaped(.name))]
    BadScriptName {
        /// Script name.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// A member is not valid JSON.
    #[error("header member '{}' is not valid JSON: {detail}", crate::error::escape::escaped(.member))]
    Json {
        /// Member name.
        member: &'static str,
        /// Parser message.
        detail: String,
    },
    /// A JSON field is missing or has the wrong shape.
    #[error("header member '{member}': {problem}")]
    Field {
        /// Member name.
        member: &'static str,
        /// The problem.
        problem: FieldProblem,
    },
    /// type-info's type disagrees with header-info's.
    #[error(
        "type-info says payload type {} but header-info says {}",
        payload_type_words(.type_info.as_deref()),
        payload_type_words(.header_info.as_deref())
    )]
    TypeMismatch {
        /// header-info value.
        header_info: Option<String>,
        /// type-info value.
        type_info: Option<String>,
    },
    /// A payload type that cannot name an Update Module.
    #[error("payload type '{}' is not a valid module name: {reason}", crate::error::escape::escaped(.name))]
    BadPayloadType {
        /// The type.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// An empty-payload artifact with parts only real payloads have.
    #[error("empty-payload artifact must not carry {0}")]
    EmptyPayloadExtras(&'static str),
    /// Decompressed header larger than the limit.
    #[error("decompressed header exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// More header members than the limit.
    #[error("header holds more than {0} members")]
    TooManyMembers(usize),
    /// Data after the header tar's end.
    #[error("header archive: {0}")]
    End(TarEnd),
}
