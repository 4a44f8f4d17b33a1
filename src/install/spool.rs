//! The verified spool (issue #16 item 6, `[update] module_delivery = "spool"`): each payload
//! file is written to `spool_dir` as it streams and hashed on the way, and handed to the Update
//! Module only once its SHA-256 matched the signed manifest. A module never reads a byte that
//! has not been verified, at the cost of disk space for the largest payload file and one more
//! write of it; Mender (and the default `stream`) hand bytes over as they arrive.
//!
//! The space is checked before any byte of a file is read, from its tar header: a file larger
//! than `max_spool_bytes` or than the free space of `spool_dir` is refused up front. The
//! spooled copy is hashed again while it is fed to the module, whose stream keeps its end until
//! then ([`super::download`]'s hold-back), so even a copy changed on disk in between never
//! reaches a module whole.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::stream::Sha256;
use thiserror::Error;

use crate::artifact::{PayloadFileInfo, SinkError, VerifiedFile};

/// `[update] spool_dir` and `max_spool_bytes`, as an install uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// Where payload files wait for their hash check.
    pub dir: PathBuf,
    /// The largest payload file it takes.
    pub max_bytes: u64,
}

/// Why a file could not be spooled or handed on.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// Larger than `max_spool_bytes`.
    #[error(
        "payload file '{file}' is {size} bytes; the spool takes at most {max} \
         ([update] max_spool_bytes)"
    )]
    TooLarge {
        /// The payload file.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The disk under `spool_dir` is too full.
    #[error(
        "payload file '{file}' is {size} bytes, but {dir} has only {free} bytes free; free \
         space there or point [update] spool_dir elsewhere"
    )]
    NoSpace {
        /// The payload file.
        file: String,
        /// Its size.
        size: u64,
        /// The spool directory.
        dir: PathBuf,
        /// Its free space.
        free: u64,
    },
    /// The spooled copy does not hash as it did when it was written.
    #[error("the spooled copy of '{0}' changed on disk before it reached the module")]
    Changed(String),
    /// File-system trouble.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// One install's spool: at most one payload file in it at a time.
#[derive(Debug)]
pub struct Spool {
    settings: SpoolSettings,
    /// The file written and not yet handed on.
    waiting: Option<(PayloadFileInfo, PathBuf)>,
    /// The number in the next spool file's name.
    next: u32,
}

/// The spool's own files: `payload-<n>` (the payload's names stay out of the file system).
const PREFIX: &str = "payload-";

impl Spool {
    /// Opens `settings.dir` (created `0700` when missing) and removes the spool files an
    /// interrupted install left there (its own `payload-*` files only: the directory may be
    /// shared).
    pub fn open(settings: SpoolSettings) -> Result<Self, SpoolError> {
        let dir = &settings.dir;
        let io = |source| SpoolError::Io {
            path: dir.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        for entry in fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            if entry.file_name().to_string_lossy().starts_with(PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            settings,
            waiting: None,
            next: 0,
        })
    }

    /// Writes `data` to the spool, after checking from `file.size` that it fits.
    pub fn take(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        self.discard();
        let name = file.name.to_string();
        if file.size > self.settings.max_bytes {
            return Err(SpoolError::TooLarge {
                file: name,
                size: file.size,
                max: self.settings.max_bytes,
            }
            .into());
        }
        let free = free_bytes(&self.settings.dir)?;
        if file.size > free {
            return Err(SpoolError::NoSpace {
                file: name,
                size: file.size,
                dir: self.settings.dir.clone(),
                free,
            }
            .into());
        }
        let path = self.settings.dir.join(format!("{PREFIX}{}", self.next));
        self.next += 1;
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        self.waiting = Some((file.clone(), path.clone()));
        // Bounded by the tar header's size: the reader hands over exactly that many bytes.
        io::copy(data, &mut out).map_err(io)?;
        out.flush().map_err(io)?;
        Ok(())
    }

    /// Once `verified` matched the manifest: feeds its spooled copy to `hand_on`, hashing it
    /// again on the way, and removes it. `hand_on` must keep the file's end back until it
    /// returns (the module's stream does).
    pub fn release(
        &mut self,
        verified: &VerifiedFile,
        hand_on: &mut dyn FnMut(&PayloadFileInfo, &mut dyn Read) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let Some((info, path)) = self.waiting.take() else {
            return Ok(());
        };
        let result = (|| {
            let file = File::open(&path).map_err(|source| SpoolError::Io {
                path: path.clone(),
                source,
            })?;
            let mut hashed = Hashing {
                inner: file,
                hash: Sha256::new(),
            };
            hand_on(&info, &mut hashed)?;
            crate::stream::drain(&mut hashed)?;
            if hashed.hash.finalize().as_slice() != verified.sha256().as_slice() {
                return Err(SpoolError::Changed(info.name.to_string()).into());
            }
            Ok(())
        })();
        let _ = fs::remove_file(&path);
        result
    }

    /// Removes a file still waiting (a failed read).
    pub fn discard(&mut self) {
        if let Some((_, path)) = self.waiting.take() {
            let _ = fs::remove_file(path);
        }
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.discard();
    }
}

/// Free bytes for an unprivileged writer under `dir` (what `df` shows as available).
fn free_bytes(dir: &Path) -> Result<u64, SpoolError> {
    let stat = nix::sys::statvfs::statvfs(dir).map_err(|e| SpoolError::Io {
        path: dir.to_owned(),
        source: io::Error::from(e),
    })?;
    // The counts are 32-bit on 32-bit targets (the armv7 build), 64-bit here.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Ok(free)
}

struct Hashing {
    inner: File,
    hash: Sha256,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}
