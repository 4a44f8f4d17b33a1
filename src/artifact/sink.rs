//! What the reader hands on: the [`PayloadSink`] that receives payload files as they stream,
//! and the proofs of a verified read ([`VerifiedFile`], [`VerifiedArtifact`]).

use std::io::Read;

use super::{CheckedHeader, Compression};
use crate::artifact::file_names::PayloadName;
use crate::signature::{Trust, VerifiedManifest};
use crate::stream::{self, Sha256Digest};

/// A payload file as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFileInfo {
    /// File name (the manifest path minus `data/0000/`), checked.
    pub name: PayloadName,
    /// Size from its tar header.
    pub size: u64,
}

/// A payload file that streamed through and matched its manifest hash. Only the payload reader
/// makes one, the moment the file's SHA-256 equalled the verified manifest's:
///
/// ```compile_fail,E0451
/// use artifact_gate::artifact::VerifiedFile;
/// let forged = VerifiedFile { name: "rootfs.img".to_owned(), size: 0, sha256: [0; 32] };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    // Visible to the reader's modules only (`pub(super)`): the payload reader mints it.
    pub(super) name: PayloadName,
    pub(super) size: u64,
    pub(super) sha256: Sha256Digest,
}

impl VerifiedFile {
    /// The file name (the manifest path minus `data/0000/`).
    pub fn name(&self) -> &PayloadName {
        &self.name
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its SHA-256, equal to the verified manifest's.
    pub fn sha256(&self) -> &Sha256Digest {
        &self.sha256
    }
}

/// Error from a [`PayloadSink`].
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives the verified header and then the payload files as they stream.
pub trait PayloadSink {
    /// Called once the header is verified and the policy passed, before any payload byte.
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError>;
    /// Receives one payload file. The bytes are unverified until [`super::read_artifact`] returns `Ok`.
    /// Whatever the sink leaves unread is read and hashed by the caller.
    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError>;
    /// Called once `file`'s hash matched the manifest, before the next file starts. A sink
    /// that hands bytes on (to a FIFO, say) can hold back the end of the file until now.
    fn file_verified(&mut self, _file: &VerifiedFile) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that only lets the bytes flow (for `validate` and `read`).
#[derive(Debug, Default)]
pub struct DiscardSink;

impl PayloadSink for DiscardSink {
    fn begin(&mut self, _: &CheckedHeader, _: &VerifiedManifest) -> Result<(), SinkError> {
        Ok(())
    }

    fn file(&mut self, _: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        stream::drain(data)?;
        Ok(())
    }
}

/// The proof of a complete, verified read: what the artifact contained. Only a successful
/// [`super::read_artifact`] mints one — after the signature, every hash, the device policy and the
/// clean end of the archive — and activating an install takes it
/// ([`crate::install::rootfs::RootfsSink::activate`], [`crate::install::download::ModuleSink::finish`]),
/// checked against the manifest the installer was fed, so nothing activates without the
/// verified read of the very bytes it installed. No other code can build one:
///
/// ```compile_fail,E0451
/// use artifact_gate::artifact::VerifiedArtifact;
/// fn forge() -> VerifiedArtifact {
///     VerifiedArtifact { format_version: 3, bytes_read: 0, ..todo!() }
/// }
/// ```
#[derive(Debug)]
pub struct VerifiedArtifact {
    // Visible to the reader's modules only (`pub(super)`): `read_artifact` mints it.
    pub(super) trust: Trust,
    pub(super) format_version: u32,
    pub(super) compression: Compression,
    pub(super) header: CheckedHeader,
    pub(super) files: Vec<VerifiedFile>,
    pub(super) bytes_read: u64,
    pub(super) manifest_sha256: Sha256Digest,
}

impl VerifiedArtifact {
    /// How the manifest was trusted.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The format version (always 3).
    pub fn format_version(&self) -> u32 {
        self.format_version
    }

    /// The header's compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The verified header.
    pub fn header(&self) -> &CheckedHeader {
        &self.header
    }

    /// The payload files, in arrival order.
    pub fn files(&self) -> &[VerifiedFile] {
        &self.files
    }

    /// Bytes read from the input up to the archive's end marker.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The verified header, giving up the proof (for code that needs the header alone).
    pub fn into_header(self) -> CheckedHeader {
        self.header
    }

    /// SHA-256 of the raw `manifest` bytes the signature covers: it names the whole artifact.
    pub fn manifest_sha256(&self) -> &Sha256Digest {
        &self.manifest_sha256
    }
}
