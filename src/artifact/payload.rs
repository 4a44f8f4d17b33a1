//! `data/0000.tar[.gz|.xz|.zst]`: the payload files, hashed as they stream.
//!
//! Spec §6: members are flat regular files, each listed in the verified manifest as
//! `data/0000/<name>` (MEN-9109: an unlisted member is refused, never passed unchecked). Each
//! file's SHA-256 is compared the moment it ends; the container must end cleanly, with nothing
//! but zeros after its end marker and nothing after the compressed stream.

use std::io::{self, Read};

use super::compression::{self, Compression};
use super::error::compare;
use super::tar_rules;
use super::{PayloadFileInfo, PayloadSink, ReadError, Rejection, VerifiedFile, io_error};
use crate::artifact::file_names;
use crate::signature::VerifiedManifest;
use crate::stream::limits::Limits;
use crate::stream::{ExactReader, HashWorker, Threads, drain};

/// Streams the payload container `entry` (named `name`) through `sink`.
pub(super) fn stream<R: Read>(
    entry: R,
    entry_size: u64,
    name: &str,
    named: Compression,
    verified: &VerifiedManifest,
    limits: &Limits,
    sink: &mut dyn PayloadSink,
) -> Result<Vec<VerifiedFile>, ReadError> {
    // Held to its declared size, so a container that ends early is reported as truncated.
    let size = entry_size;
    let mut outer = ExactReader::new(entry, size);
    // Threads only where there are cores to run them (issue #17): on one core, hand-offs
    // between threads cost more than they save.
    let threads = Threads::for_this_process();
    tracing::debug!(
        "{name}: inflating and hashing {}",
        match threads {
            Threads::Inline => "on this thread (one CPU available)",
            Threads::Pipelined => "on worker threads",
        }
    );
    let decoder = compression::open_payload(&mut outer, named, limits, threads)
        .map_err(|e| io_error(name, e))?
        .map_err(|m| Rejection::SuffixMismatch {
            entry: name.to_owned(),
            named: m.named,
            found: m.found,
        })?;
    let mut archive = tar::Archive::new(tar_rules::ExtensionGuard::new(
        decoder,
        limits.max_tar_extension,
    ));
    let mut files: Vec<VerifiedFile> = Vec::new();
    let mut hasher = HashWorker::start(threads);
    {
        let entries = archive.entries().map_err(|e| io_error(name, e))?;
        for member in entries {
            let member = member.map_err(|e| io_error(name, e))?;
            let file_name = tar_rules::checked_member(&member, "payload", limits.max_name_len)?;
            let file_name = file_names::check_payload_name(&file_name, limits.max_name_len)
                .map_err(|reason| Rejection::BadPayloadName {
                    entry: file_name.clone(),
                    reason,
                })?;
            let Some(expected) = verified.manifest().payload_digest(&file_name) else {
                return Err(Rejection::UnlistedFile(file_name.to_string()).into());
            };
            if files.iter().any(|f| f.name == file_name) {
                return Err(Rejection::DuplicateFile(file_name.to_string()).into());
            }
            let size = member.size();
            let path = format!("data/0000/{file_name}");
            let info = PayloadFileInfo {
                name: file_name,
                size,
            };
            let mut data = LatchedReader::new(hasher.reader(ExactReader::new(member, size)));
            let handed = sink.file(&info, &mut data);
            // An error from our own adapters (truncation, corrupt stream, input failure) is
            // reported as such even when the sink passed it on as its own.
            if let Some(e) = data.take_error() {
                return Err(io_error(&path, e));
            }
            handed.map_err(ReadError::Sink)?;
            if let Err(e) = drain(&mut data) {
                return Err(io_error(&path, data.take_error().unwrap_or(e)));
            }
            let (digest, _) = data.into_inner().finish().map_err(|e| io_error(&path, e))?;
            compare(&path, expected, &digest)?;
            let verified_file = VerifiedFile {
                name: info.name,
                size,
                sha256: digest,
            };
            sink.file_verified(&verified_file)
                .map_err(ReadError::Sink)?;
            files.push(verified_file);
        }
    }
    let end = tar_rules::check_end_of_archive(archive.into_inner(), limits.max_tar_padding_bytes)
        .map_err(|e| io_error(name, e))?;
    if let Err(end) = end {
        return Err(Rejection::BadEnd {
            container: crate::error::escape::quoted(name).to_string(),
            end,
        }
        .into());
    }
    // The decoder reached its end; the container entry must have been consumed exactly.
    let leftover = drain(&mut outer).map_err(|e| io_error(name, e))?;
    if leftover != 0 {
        return Err(Rejection::Malformed {
            container: crate::error::escape::quoted(name).to_string(),
            detail: format!("{leftover} bytes after the compressed stream"),
        }
        .into());
    }
    Ok(files)
}

/// Remembers the first error it returned, so the caller can tell its own failures apart from a
/// consumer's.
struct LatchedReader<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> LatchedReader<R> {
    fn new(inner: R) -> Self {
        Self { inner, error: None }
    }

    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for LatchedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                if self.error.is_none() {
                    self.error = Some(e);
                }
                Err(copy)
            }
        }
    }
}
