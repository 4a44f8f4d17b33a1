//! The streaming reader: one pass over an artifact from any `Read`, enforcing the v3 layout and
//! every hash before anything is handed on.
//!
//! Order of work (spec §7.3, §12):
//! 1. `version` and `manifest` are buffered (bounded); `manifest.sig`, if present, is read.
//! 2. The signature is checked → [`VerifiedManifest`]; then `version`'s hash, then its content.
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
pub mod header;
mod json;
pub mod manifest;
pub mod names;
mod payload;
pub mod tar_rules;
pub mod version;

use std::io::{self, Read};

use thiserror::Error;

pub use compression::Compression;
pub use header::{CheckedHeader, HeaderError, PayloadType};
pub use tar_rules::{EntryNameError, TarEnd};

use tar_rules::ExtensionGuard;

use crate::artifact::manifest::is_header_name;
use crate::artifact::names::PayloadName;
use crate::policy::{self, DeviceFacts, PolicyError};
use crate::signature::{self, ManifestRejection, SignaturePolicy, Trust, VerifiedManifest};
use crate::stream::limits::Limits;
use crate::stream::{self as aio, IoClass, Sha256Digest, SourceReader};

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
    name: PayloadName,
    size: u64,
    sha256: Sha256Digest,
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
    /// Receives one payload file. The bytes are unverified until [`read_artifact`] returns `Ok`.
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
        aio::drain(data)?;
        Ok(())
    }
}

/// The proof of a complete, verified read: what the artifact contained. Only a successful
/// [`read_artifact`] mints one — after the signature, every hash, the device policy and the
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
    trust: Trust,
    format_version: u32,
    compression: Compression,
    header: CheckedHeader,
    files: Vec<VerifiedFile>,
    bytes_read: u64,
    manifest_sha256: Sha256Digest,
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

/// Settings for one read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// Device facts to check the header against.
    pub device: DeviceFacts,
    /// Size caps.
    pub limits: Limits,
}

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
        reason: crate::artifact::names::NameError,
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

/// Reads and verifies an artifact from `input` in one pass, feeding payload files to `sink`.
///
/// # Security
/// `input` is untrusted. Nothing from it reaches `sink` before the signature, the `version` and
/// header hashes and the device policy have passed; payload bytes reach it unverified and are
/// vouched for only by an `Ok` return.
pub fn read_artifact<R: Read>(
    input: R,
    options: &ReadOptions,
    sink: &mut dyn PayloadSink,
) -> Result<VerifiedArtifact, ReadError> {
    let limits = &options.limits;
    let source = SourceReader::new(input, limits.max_artifact);
    let mut archive = tar::Archive::new(ExtensionGuard::new(source, limits.max_tar_extension));
    let outcome = {
        let mut entries = archive.entries().map_err(|e| io_error("artifact", e))?;
        let mut reader = Outer {
            entries: &mut entries,
            limits,
            seen: Vec::new(),
        };
        reader.run(options, sink)?
    };
    let rest = archive.into_inner();
    let bytes_before_end = rest.get_ref().bytes_read();
    match tar_rules::finish(rest, options.limits.max_tar_padding)
        .map_err(|e| io_error("artifact", e))?
    {
        Ok(()) => {}
        Err(end) => {
            return Err(Rejection::BadEnd {
                container: "artifact".to_owned(),
                end,
            }
            .into());
        }
    }
    let (trust, format_version, compression, header, files, manifest_sha256) = outcome;
    Ok(VerifiedArtifact {
        trust,
        format_version,
        compression,
        header,
        files,
        bytes_read: bytes_before_end,
        manifest_sha256,
    })
}

/// The raw input as the outer tar reader sees it.
type Source<R> = ExtensionGuard<SourceReader<R>>;

/// An outer entry with its checked name.
type Named<'a, R> = (String, tar::Entry<'a, Source<R>>);

type Outcome = (
    Trust,
    u32,
    Compression,
    CheckedHeader,
    Vec<VerifiedFile>,
    Sha256Digest,
);

struct Outer<'e, 'a, R: Read> {
    entries: &'e mut tar::Entries<'a, Source<R>>,
    limits: &'e Limits,
    seen: Vec<String>,
}

impl<'a, R: Read> Outer<'_, 'a, R> {
    fn run(
        &mut self,
        options: &ReadOptions,
        sink: &mut dyn PayloadSink,
    ) -> Result<Outcome, ReadError> {
        let limits = self.limits;
        // Spec §1.2: version → manifest → [manifest.sig] → header.tar* → data/0000.tar* → end.
        let version = self.expect_named("version", "'version' first")?;
        let version_raw = self.buffer(version, "version", limits.max_version)?;
        let manifest = self.expect_named("manifest", "'manifest' after 'version'")?;
        let manifest_raw = self.buffer(manifest, "manifest", limits.max_manifest)?;

        let (mut name, mut entry) = self.next_or_missing("the header")?;
        let signature = if name == "manifest.sig" {
            let sig = self.buffer(entry, "manifest.sig", limits.max_signature)?;
            (name, entry) = self.next_or_missing("the header")?;
            Some(sig)
        } else {
            None
        };
        if name == "manifest-augment" || name.starts_with("header-augment") {
            return Err(Rejection::Augmented(name).into());
        }
        if is_payload_container(&name) {
            return Err(Rejection::MissingHeader(name).into());
        }
        if !is_header_name(&name) {
            let expected = if signature.is_some() {
                "'header.tar[.gz|.xz|.zst]' after 'manifest.sig'"
            } else {
                "'manifest.sig' or 'header.tar[.gz|.xz|.zst]' after 'manifest'"
            };
            return Err(self.misplaced(name, expected).into());
        }

        // The trust decision comes before any header or payload byte is used (spec §7.3).
        let verified = signature::verify_manifest(
            &manifest_raw,
            signature.as_deref(),
            &options.signature,
            limits.max_payload_files,
            limits.max_name_len,
        )
        .map_err(Rejection::from)?;
        let manifest = verified.manifest();
        compare(
            "version",
            manifest.version_digest(),
            &aio::sha256(&version_raw),
        )?;
        let format_version = version::parse(&version_raw).map_err(Rejection::from)?;

        if manifest.header_name() != name {
            return Err(Rejection::HeaderNotCovered {
                manifest: manifest.header_name().to_owned(),
                artifact: name,
            }
            .into());
        }
        let compression = Compression::from_name(&name, "header.tar").unwrap_or(Compression::None);
        let header_raw = self.buffer(entry, &name, limits.max_header)?;
        compare(&name, manifest.header_digest(), &aio::sha256(&header_raw))?;
        let header =
            CheckedHeader::parse_verified(&name, &header_raw, limits).map_err(Rejection::from)?;
        drop(header_raw);
        check_payload_shape(&header, &verified)?;
        policy::check(&header, &options.device).map_err(Rejection::from)?;

        sink.begin(&header, &verified).map_err(ReadError::Sink)?;
        let files = match self.next()? {
            None if *header.payload_type() == PayloadType::Empty => Vec::new(),
            None => return Err(Rejection::MissingEntry("'data/0000.tar[.gz|.xz|.zst]'").into()),
            Some((name, entry)) => {
                let Some(named) = Compression::from_name(&name, "data/0000.tar") else {
                    return Err(self.misplaced(name, "'data/0000.tar[.gz|.xz|.zst]'").into());
                };
                let size = entry.size();
                if size == 0 {
                    // Spec §5.6: even an empty payload's container holds a tar end marker.
                    return Err(Rejection::EmptyEntry {
                        entry: name,
                        needs: "a payload container holds at least a tar end-of-archive marker",
                    }
                    .into());
                }
                payload::stream(entry, size, &name, named, &verified, limits, sink)?
            }
        };
        if let Some((name, _)) = self.next()? {
            return Err(self.misplaced(name, "the end of the artifact").into());
        }
        // Spec §12.2 (Go semantics): every listed payload file must have arrived.
        let missing: Vec<String> = manifest
            .payload_files()
            .iter()
            .filter(|(n, _)| !files.iter().any(|f| f.name == *n))
            .map(|(n, _)| format!("data/0000/{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(Rejection::MissingFiles(missing).into());
        }
        Ok((
            verified.trust().clone(),
            format_version,
            compression,
            header,
            files,
            *verified.raw_digest(),
        ))
    }

    /// A name that is not allowed where it stands, with the most specific reason.
    fn misplaced(&self, name: String, expected: &'static str) -> Rejection {
        if self.seen.iter().filter(|n| **n == name).count() > 1 {
            return Rejection::DuplicateEntry(name);
        }
        // A second payload only once a first one has come.
        let payloads = self.seen.iter().filter(|n| is_payload_container(n)).count();
        if is_payload_container(&name) && payloads > 1 {
            return Rejection::SecondPayload(name);
        }
        Rejection::UnexpectedEntry {
            found: name,
            expected,
        }
    }

    fn next(&mut self) -> Result<Option<Named<'a, R>>, ReadError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let entry = entry.map_err(|e| io_error("artifact", e))?;
        let name = tar_rules::member_name(&entry, self.limits.max_name_len).map_err(
            |(entry, reason)| Rejection::BadEntryName {
                container: "artifact",
                entry,
                reason,
            },
        )?;
        if let Err(kind) = tar_rules::require_regular(&entry) {
            return Err(Rejection::NotRegular {
                container: "artifact",
                entry: name,
                kind,
            }
            .into());
        }
        self.seen.push(name.clone());
        Ok(Some((name, entry)))
    }

    fn next_or_missing(&mut self, what: &'static str) -> Result<Named<'a, R>, ReadError> {
        self.next()?
            .ok_or_else(|| Rejection::MissingEntry(what).into())
    }

    fn expect_named(
        &mut self,
        wanted: &'static str,
        expected: &'static str,
    ) -> Result<tar::Entry<'a, Source<R>>, ReadError> {
        let (name, entry) = self.next()?.ok_or(Rejection::MissingEntry(expected))?;
        if name != wanted {
            if name == "manifest-augment" || name.starts_with("header-augment") {
                return Err(Rejection::Augmented(name).into());
            }
            return Err(self.misplaced(name, expected).into());
        }
        Ok(entry)
    }

    fn buffer(
        &mut self,
        entry: tar::Entry<'a, Source<R>>,
        name: &str,
        limit: u64,
    ) -> Result<Vec<u8>, ReadError> {
        let size = entry.size();
        if size > limit {
            return Err(Rejection::EntryTooLarge {
                entry: name.to_owned(),
                limit,
            }
            .into());
        }
        let body = aio::read_bounded(aio::ExactReader::new(entry, size), limit)
            .map_err(|e| io_error(name, e))?
            .ok_or_else(|| Rejection::EntryTooLarge {
                entry: name.to_owned(),
                limit,
            })?;
        Ok(body)
    }
}

/// `data/NNNN.tar[.gz|.xz|.zst]` for any four-digit index.
fn is_payload_container(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("data/") else {
        return false;
    };
    let (index, tail) = rest.split_at_checked(4).unwrap_or(("", ""));
    index.len() == 4
        && index.bytes().all(|b| b.is_ascii_digit())
        && Compression::from_name(tail, ".tar").is_some()
}

/// Cross-checks the header's payload type with the manifest's file list.
fn check_payload_shape(
    header: &CheckedHeader,
    verified: &VerifiedManifest,
) -> Result<(), Rejection> {
    let count = verified.manifest().payload_files().len();
    match &header.payload_type() {
        PayloadType::Empty if count > 0 => Err(Rejection::PayloadShape {
            payload_type: "null (empty payload)".to_owned(),
            problem: format!("the manifest lists {count} payload files; an empty payload has none"),
        }),
        PayloadType::Named(t) if t == "rootfs-image" && count != 1 => {
            Err(Rejection::PayloadShape {
                payload_type: t.clone(),
                problem: format!(
                    "a rootfs-image payload is exactly one file; the manifest lists {count}"
                ),
            })
        }
        _ => Ok(()),
    }
}

fn compare(entry: &str, expected: &Sha256Digest, found: &Sha256Digest) -> Result<(), Rejection> {
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
    match aio::classify(err) {
        IoClass::Source(e) => ReadError::Io(e),
        IoClass::TooLarge(limit) => Rejection::ArtifactTooLarge(limit).into(),
        IoClass::InflateRatio {
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
        // A decoder that ran out of input before its end marker (the tar layer and our own
        // adapters report truncation with sizes, below).
        IoClass::Truncated {
            expected: 0,
            found: 0,
        } => Rejection::StreamCut(entry.to_owned()).into(),
        IoClass::Truncated { expected, found } => Rejection::Truncated {
            entry: entry.to_owned(),
            expected,
            found,
        }
        .into(),
        IoClass::BadPax(pax) => Rejection::BadPax {
            container: if entry == "artifact" {
                "artifact".to_owned()
            } else {
                crate::error::escape::quoted(entry).to_string()
            },
            pax,
        }
        .into(),
        IoClass::Malformed(detail) => Rejection::Malformed {
            container: crate::error::escape::quoted(entry).to_string(),
            detail,
        }
        .into(),
    }
}
