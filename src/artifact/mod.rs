//! The streaming reader: one pass over an artifact from any `Read`, enforcing the v3 layout and
//! every hash before anything is handed on.
//!
//! Order of work (spec §7.3, §12):
//! 1. `version` and `manifest` are buffered (bounded); `manifest.sig`, if present, is read.
//! 2. The signature is checked → [`crate::signature::VerifiedManifest`]; then `version`'s hash, then its content.
//! 3. The header is buffered, its hash compared, then parsed → [`CheckedHeader`]; the device
//!    policy is applied.
//! 4. Only now does the [`PayloadSink`] see anything: each payload file streams through a SHA-256
//!    and is compared when it ends. The sink must treat bytes as unverified until
//!    [`read_artifact`] returns `Ok`.
//! 5. The outer archive must end (only zero bytes after its end marker) and every file the
//!    manifest lists must have arrived.
//!
//! Memory does not depend on the artifact's size: payload bytes pass through fixed buffers.

pub mod compression;
mod error;
pub mod file_names;
pub mod header;
mod json;
pub mod manifest;
mod pax;
mod payload;
mod reader;
mod sink;
pub mod tar_rules;
pub mod version;

use crate::policy::DeviceFacts;
use crate::signature::SignaturePolicy;
use crate::stream::limits::Limits;

pub use compression::Compression;
pub(crate) use error::io_error;
pub use error::{ReadError, Rejection};
pub use header::{CheckedHeader, HeaderError, PayloadType};
pub use reader::read_artifact;
pub use sink::{
    DiscardSink, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
pub use tar_rules::{EntryNameError, TarEnd};

use crate::stream::Sha256Digest;

/// Settings for one read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// Device facts to check the header against.
    pub device: DeviceFacts,
    /// Size caps.
    pub limits: Limits,
    /// Only this artifact: the SHA-256 of its raw manifest, as `read`/`validate` reported it
    /// when the artifact was inspected (issue #16). Checked right after the signature, before
    /// any header or payload byte is used.
    pub expect_manifest_sha256: Option<Sha256Digest>,
}
