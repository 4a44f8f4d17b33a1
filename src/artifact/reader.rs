//! The outer tar walker: [`read_artifact`] reads `version`, `manifest`, `manifest.sig`, the
//! header and the payload in the order spec §1.2 and §7.3 give, each checked before the next.

use std::io::Read;

use super::error::compare;
use super::tar_rules::ExtensionGuard;
use super::{
    CheckedHeader, Compression, PayloadSink, PayloadType, ReadError, ReadOptions, Rejection,
    VerifiedArtifact, VerifiedFile, io_error, payload, tar_rules, version,
};
use crate::artifact::manifest::is_header_name;
use crate::policy;
use crate::signature::{self, Trust, VerifiedManifest};
use crate::stream::limits::Limits;
use crate::stream::{self, Sha256Digest, SourceReader};

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
    let source = SourceReader::new(input, limits.max_artifact_bytes);
    let mut archive = tar::Archive::new(ExtensionGuard::new(source, limits.max_tar_extension));
    let outcome = {
        let mut entries = archive.entries().map_err(|e| io_error("artifact", e))?;
        let mut reader = OuterReader {
            entries: &mut entries,
            limits,
            seen: Vec::new(),
        };
        reader.run(options, sink)?
    };
    let rest = archive.into_inner();
    let bytes_before_end = rest.get_ref().bytes_read();
    match tar_rules::check_end_of_archive(rest, options.limits.max_tar_padding_bytes)
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
    Ok(VerifiedArtifact {
        trust: outcome.trust,
        format_version: outcome.format_version,
        compression: outcome.compression,
        header: outcome.header,
        files: outcome.files,
        bytes_read: bytes_before_end,
        manifest_sha256: outcome.manifest_sha256,
    })
}

/// The raw input as the outer tar reader sees it.
type Source<R> = ExtensionGuard<SourceReader<R>>;

/// An outer entry with its checked name.
type Named<'a, R> = (String, tar::Entry<'a, Source<R>>);

/// What the walk over the entries established; it becomes the [`VerifiedArtifact`] only once
/// the archive's end has been checked too.
struct Outcome {
    trust: Trust,
    format_version: u32,
    compression: Compression,
    header: CheckedHeader,
    files: Vec<VerifiedFile>,
    manifest_sha256: Sha256Digest,
}

struct OuterReader<'e, 'a, R: Read> {
    entries: &'e mut tar::Entries<'a, Source<R>>,
    limits: &'e Limits,
    seen: Vec<String>,
}

impl<'a, R: Read> OuterReader<'_, 'a, R> {
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
        // Bound to the inspected artifact (issue #16 item 1): a validly signed other one is
        // refused too, before anything of it is used.
        if let Some(expected) = &options.expect_manifest_sha256
            && verified.raw_digest() != expected
        {
            return Err(Rejection::NotInspected {
                expected: hex::encode(expected),
                found: hex::encode(verified.raw_digest()),
            }
            .into());
        }
        let manifest = verified.manifest();
        compare(
            "version",
            manifest.version_digest(),
            &stream::sha256(&version_raw),
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
        let header_raw = self.buffer(entry, &name, limits.max_header_bytes)?;
        compare(
            &name,
            manifest.header_digest(),
            &stream::sha256(&header_raw),
        )?;
        let header =
            CheckedHeader::parse_verified(&name, &header_raw, limits).map_err(Rejection::from)?;
        drop(header_raw);
        check_payload_shape(&header, &verified)?;
        if let crate::signature::Trust::Verified {
            key,
            scope: Some(scope),
            ..
        } = verified.trust()
        {
            policy::check_scope(&header, key, scope).map_err(Rejection::from)?;
        }
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
        Ok(Outcome {
            trust: verified.trust().clone(),
            format_version,
            compression,
            header,
            files,
            manifest_sha256: *verified.raw_digest(),
        })
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
        let name = tar_rules::checked_member(&entry, "artifact", self.limits.max_name_len)?;
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
        let body = stream::read_bounded(stream::ExactReader::new(entry, size), limit)
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
