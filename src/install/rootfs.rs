//! The built-in A/B rootfs-image installer (spec §8.4, the Go client's behaviour).
//!
//! The payload's single file streams onto the inactive partition (`RootfsPartA`/`RootfsPartB`),
//! after a size check against the partition. While it is written, a thread reads back what has
//! been flushed to the partition and hashes it again ([`super::readback`]); once the stream's
//! hash matched the manifest, the partition is `fsync`ed, the rest read back, and the digest must
//! match too. Only then does `ArtifactInstall` switch the boot variables — `mender_boot_part`, `mender_boot_part_hex`, `upgrade_available=1`, `bootcount=0`
//! in one `fw_setenv` write. Commit clears `upgrade_available`; rollback points back.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::bootenv::{BootEnv, BootEnvError};
use super::readback::{self, ReadBack, ReadBackError};
use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
use crate::signature::VerifiedManifest;
use crate::stream::Sha256Digest;

/// The two root partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsLayout {
    /// `RootfsPartA`.
    pub part_a: PathBuf,
    /// `RootfsPartB`.
    pub part_b: PathBuf,
}

/// One root partition and its number (the digits its name ends in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Device (or, in tests, file) path.
    pub path: PathBuf,
    /// Partition number, as `mender_boot_part` holds it.
    pub number: u32,
}

/// The running and the other partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slots {
    /// The partition the system runs from.
    pub active: Slot,
    /// The partition an update goes to.
    pub inactive: Slot,
}

/// Why an A/B step failed.
#[derive(Debug, Error)]
pub enum RootfsError {
    /// A partition path that does not end in its number.
    #[error("cannot tell the partition number of {0} (the name must end in digits)")]
    NoNumber(PathBuf),
    /// Neither the mounted root nor `mender_boot_part` names one of the two partitions.
    #[error(
        "cannot tell the active root partition: the mounted root is {} and \
         mender_boot_part is {}, neither matches RootfsPartA or RootfsPartB",
        .root.as_deref().map_or_else(|| "unknown".to_owned(), |r| crate::error::escape::quoted(r).to_string()),
        .boot_part.as_deref().map_or_else(|| "unset".to_owned(), |b| crate::error::escape::quoted(b).to_string())
    )]
    UnknownActive {
        /// Source of the `/` mount.
        root: Option<String>,
        /// The boot variable.
        boot_part: Option<String>,
    },
    /// An update already waits for its reboot or commit.
    #[error("upgrade_available=1: an earlier update still waits for reboot and commit")]
    UpgradePending,
    /// The payload is larger than the partition.
    #[error("payload of {payload} bytes does not fit partition {partition} ({size} bytes)")]
    TooLarge {
        /// Payload size.
        payload: u64,
        /// Partition.
        partition: PathBuf,
        /// Partition size.
        size: u64,
    },
    /// More than one file for a rootfs-image.
    #[error("more than one file in a rootfs-image payload")]
    SecondFile,
    /// Activation was offered the proof of another read than the one this installer was fed.
    #[error("refusing to activate: the verified artifact is not the one written to the partition")]
    NotThisArtifact,
    /// What was written does not read back the same.
    #[error("partition {partition} reads back with SHA-256 {found}, but {expected} was written")]
    ReadBack {
        /// Partition.
        partition: PathBuf,
        /// Expected digest.
        expected: String,
        /// Digest read back.
        found: String,
    },
    /// The bootloader already reverted the update.
    #[error("upgrade failed and was reverted (upgrade_available is not 1): refusing to commit")]
    Reverted,
    /// Commit from the wrong partition.
    #[error(
        "the system runs from partition {running}, but the update is on {expected}: refusing to commit"
    )]
    WrongPartition {
        /// Running partition.
        running: u32,
        /// Partition of the update.
        expected: u32,
    },
    /// Partition I/O.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The boot environment.
    #[error(transparent)]
    BootEnv(#[from] BootEnvError),
}

impl RootfsLayout {
    /// The number of the partition mounted as `/`, when it is one of the two; `None` when the
    /// mount table does not say (then only the boot variables do).
    pub fn running_by_root(&self) -> Option<u32> {
        let root = mounted_root()?;
        [&self.part_a, &self.part_b]
            .into_iter()
            .find(|part| {
                Path::new(&root) == part.as_path()
                    || (Path::new(&root).exists()
                        && std::fs::canonicalize(&root).ok() == std::fs::canonicalize(part).ok())
            })
            .and_then(|part| number_of(part).ok())
    }

    /// Finds which partition runs: the source of the `/` mount if it is one of the two, else the
    /// one `mender_boot_part` names (as the Go client does).
    pub fn detect(&self, env: &BootEnv) -> Result<Slots, RootfsError> {
        let a = Slot {
            path: self.part_a.clone(),
            number: number_of(&self.part_a)?,
        };
        let b = Slot {
            path: self.part_b.clone(),
            number: number_of(&self.part_b)?,
        };
        let root = mounted_root();
        let same = |slot: &Slot, source: &str| {
            Path::new(source) == slot.path
                || std::fs::canonicalize(source).ok() == std::fs::canonicalize(&slot.path).ok()
                    && Path::new(source).exists()
        };
        let boot_part = env.read(&["mender_boot_part"])?.remove("mender_boot_part");
        let by_root = root.as_deref().and_then(|r| {
            if same(&a, r) {
                Some(true)
            } else if same(&b, r) {
                Some(false)
            } else {
                None
            }
        });
        let by_env = boot_part.as_deref().and_then(|p| {
            let n: u32 = p.trim().parse().ok()?;
            if n == a.number {
                Some(true)
            } else if n == b.number {
                Some(false)
            } else {
                None
            }
        });
        match by_root.or(by_env) {
            Some(true) => Ok(Slots {
                active: a,
                inactive: b,
            }),
            Some(false) => Ok(Slots {
                active: b,
                inactive: a,
            }),
            None => Err(RootfsError::UnknownActive { root, boot_part }),
        }
    }
}

/// Streams the rootfs payload onto the inactive partition.
#[derive(Debug)]
pub struct RootfsSink {
    layout: RootfsLayout,
    env: BootEnv,
    slots: Option<Slots>,
    out: Option<File>,
    readback: Option<ReadBack>,
    part_size: u64,
    written_files: usize,
    /// SHA-256 of the verified manifest the payload came under, recorded at `begin`.
    manifest: Option<Sha256Digest>,
}

impl RootfsSink {
    /// A sink for `layout`, switching boots through `env`.
    pub fn new(layout: RootfsLayout, env: BootEnv) -> Self {
        Self {
            layout,
            env,
            slots: None,
            out: None,
            readback: None,
            part_size: 0,
            written_files: 0,
            manifest: None,
        }
    }

    /// The partitions found at `begin`.
    pub fn slots(&self) -> Option<&Slots> {
        self.slots.as_ref()
    }

    /// `ArtifactInstall`: points the bootloader at the new partition, all variables in one write.
    /// Takes the proof of the complete verified read of the artifact this sink was fed: nothing
    /// else may switch the boot.
    pub fn activate(&self, proof: &VerifiedArtifact) -> Result<(), RootfsError> {
        if self.manifest != Some(*proof.manifest_sha256()) {
            return Err(RootfsError::NotThisArtifact);
        }
        let Some(slots) = &self.slots else {
            return Err(RootfsError::UnknownActive {
                root: None,
                boot_part: None,
            });
        };
        switch_to(&self.env, slots)
    }
}

/// `ArtifactInstall`'s boot switch: the bootloader tries `slots.inactive` next, in one write.
pub fn switch_to(env: &BootEnv, slots: &Slots) -> Result<(), RootfsError> {
    let n = slots.inactive.number;
    env.write(&[
        ("mender_boot_part", n.to_string()),
        ("mender_boot_part_hex", format!("{n:X}")),
        ("upgrade_available", "1".to_owned()),
        ("bootcount", "0".to_owned()),
    ])?;
    Ok(())
}

/// Reads the first `size` bytes of `partition` back and checks them against `sha256` (hex),
/// for an install resumed after a stop before `ArtifactInstall`: the same read-back as the
/// write's (flushed, the page cache dropped), so the digest covers what the device returns.
pub fn verify_slot(partition: &Path, size: u64, sha256: &str) -> Result<(), RootfsError> {
    let found = ReadBack::start(partition, readback::WINDOW)
        .and_then(|readback| readback.finish(size))
        .map_err(|e| readback_error(partition, e))?;
    let found = hex::encode(found);
    if !found.eq_ignore_ascii_case(sha256) {
        return Err(RootfsError::ReadBack {
            partition: partition.to_owned(),
            expected: sha256.to_owned(),
            found,
        });
    }
    Ok(())
}

impl PayloadSink for RootfsSink {
    fn begin(&mut self, _: &CheckedHeader, manifest: &VerifiedManifest) -> Result<(), SinkError> {
        self.manifest = Some(*manifest.raw_digest());
        let slots = self.layout.detect(&self.env)?;
        let pending = self.env.read(&["upgrade_available"])?;
        if pending.get("upgrade_available").map(String::as_str) == Some("1") {
            return Err(Box::new(RootfsError::UpgradePending));
        }
        let path = slots.inactive.path.clone();
        let io_err = |what, source| RootfsError::Io {
            what,
            path: path.clone(),
            source,
        };
        // The partition must exist; it is never created or truncated.
        let mut out = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open", e))?;
        self.part_size = out.seek(SeekFrom::End(0)).map_err(|e| io_err("size", e))?;
        out.seek(SeekFrom::Start(0))
            .map_err(|e| io_err("seek", e))?;
        self.out = Some(out);
        self.slots = Some(slots);
        Ok(())
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        self.written_files += 1;
        if self.written_files > 1 {
            return Err(Box::new(RootfsError::SecondFile));
        }
        let path = self
            .slots
            .as_ref()
            .map(|s| s.inactive.path.clone())
            .unwrap_or_default();
        if file.size > self.part_size {
            return Err(Box::new(RootfsError::TooLarge {
                payload: file.size,
                partition: path,
                size: self.part_size,
            }));
        }
        let Some(out) = self.out.as_mut() else {
            return Err(Box::new(RootfsError::SecondFile));
        };
        let readback = self.readback.insert(
            ReadBack::start(&path, readback::WINDOW).map_err(|e| readback_error(&path, e))?,
        );
        let mut buf = vec![0u8; 256 * 1024];
        let mut written = 0u64;
        loop {
            let n = data.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(buf.get(..n).unwrap_or_default())
                .map_err(|source| RootfsError::Io {
                    what: "write",
                    path: path.clone(),
                    source,
                })?;
            written += n as u64;
            readback.written(written);
        }
        Ok(())
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        let (Some(out), Some(readback)) = (self.out.take(), self.readback.take()) else {
            return Ok(());
        };
        let path = self
            .slots
            .as_ref()
            .map(|s| s.inactive.path.clone())
            .unwrap_or_default();
        drop(out);
        // The final fsync and the rest of the read-back; the digest covers what the partition
        // returns, not what was sent to it.
        let found = readback
            .finish(file.size())
            .map_err(|e| readback_error(&path, e))?;
        if found != *file.sha256() {
            return Err(Box::new(RootfsError::ReadBack {
                partition: path,
                expected: hex::encode(file.sha256()),
                found: hex::encode(found),
            }));
        }
        Ok(())
    }
}

fn readback_error(path: &Path, e: ReadBackError) -> RootfsError {
    RootfsError::Io {
        what: e.what,
        path: path.to_owned(),
        source: e.source,
    }
}

/// Commit of an A/B install: the system must run from the new partition and the bootloader must
/// not have reverted; then `upgrade_available=0`.
pub fn commit(layout: &RootfsLayout, env: &BootEnv, slots: &Slots) -> Result<(), RootfsError> {
    let vars = env.read(&["upgrade_available"])?;
    if vars.get("upgrade_available").map(String::as_str) != Some("1") {
        return Err(RootfsError::Reverted);
    }
    let running = layout.detect(env)?.active.number;
    if running != slots.inactive.number {
        return Err(RootfsError::WrongPartition {
            running,
            expected: slots.inactive.number,
        });
    }
    env.write(&[("upgrade_available", "0".to_owned())])?;
    Ok(())
}

/// Rollback of an A/B install: boot the previous partition again.
pub fn rollback(env: &BootEnv, slots: &Slots) -> Result<(), RootfsError> {
    let n = slots.active.number;
    env.write(&[
        ("mender_boot_part", n.to_string()),
        ("mender_boot_part_hex", format!("{n:X}")),
        ("upgrade_available", "0".to_owned()),
    ])?;
    Ok(())
}

fn number_of(path: &Path) -> Result<u32, RootfsError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .map_err(|_| RootfsError::NoNumber(path.to_owned()))
}

/// The source of the `/` mount, from `/proc/self/mountinfo`.
/// The device mounted as `/`: `$ARTIFACT_GATE_ROOT_DEVICE` when set (tests, or a board whose
/// root the mount table does not name), else the source of `/` in `/proc/self/mountinfo`.
fn mounted_root() -> Option<String> {
    if let Some(device) = std::env::var_os("ARTIFACT_GATE_ROOT_DEVICE").filter(|v| !v.is_empty()) {
        return Some(device.to_string_lossy().into_owned());
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        (mount_point == "/").then(|| right.split(' ').nth(1).map(str::to_owned))?
    })
}
