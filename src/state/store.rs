//! What persists between commands: the device's provides and the install awaiting commit.
//!
//! Both live as JSON files under `<datastore>/artifact-gate/`, each replaced atomically
//! ([`crate::state::persist::write_atomic`]), so a power cut leaves either the old or the new record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::install::stops::Stage;
use crate::state::persist;
use crate::state::provides::{ArtifactClaims, Provides};

/// An install that ran `ArtifactInstall` and waits for `commit` or `rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingInstall {
    /// What the artifact will provide once committed.
    pub claims: ArtifactClaims,
    /// Its payload type (the Update Module's name).
    pub payload_type: String,
    /// The module's file tree.
    pub tree: PathBuf,
    /// The module's `NeedsArtifactReboot` answer.
    pub reboot: crate::install::module::RebootNeed,
    /// The module's `SupportsRollback` answer.
    pub supports_rollback: bool,
    /// For a built-in A/B install: the partition it left and the one it wrote.
    #[serde(default)]
    pub rootfs: Option<crate::install::rootfs::Slots>,
    /// The kernel's boot ID when the install ran: a different one later proves a reboot.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// The Mender server deployment it belongs to, when the agent installed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Where the operation stands, when it stopped before a state (`--stop-before`); a record
    /// without one is an installed update waiting for commit or rollback.
    #[serde(default, skip_serializing_if = "Stage::is_installed")]
    pub stage: Stage,
    /// The verified payload files, kept while the install waits before `ArtifactInstall`
    /// (an A/B slot is read back against them before the boot switch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified_files: Vec<StagedFile>,
}

/// A payload file as it was verified, kept in a stopped install's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagedFile {
    /// Its name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// This boot's ID (`/proc/sys/kernel/random/boot_id`), or `$ARTIFACT_GATE_BOOT_ID` where a test
/// simulates a reboot without one.
pub fn boot_id() -> Option<String> {
    if let Some(id) = std::env::var_os("ARTIFACT_GATE_BOOT_ID").filter(|v| !v.is_empty()) {
        return Some(id.to_string_lossy().into_owned());
    }
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A state file that cannot be read or written.
#[derive(Debug, Error)]
#[error("install state {path}: {problem}")]
pub struct StoreError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub problem: String,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under `datastore` (`/var/lib/mender`).
    pub fn new(datastore: &Path) -> Self {
        Self {
            dir: datastore.join("artifact-gate"),
        }
    }

    /// Takes the operation lock (`<datastore>/artifact-gate/lock`): one install, commit or
    /// rollback at a time, across processes. Held until the returned guard is dropped.
    pub fn lock(&self) -> Result<OperationLock, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| error(&self.dir, e))?;
        let path = self.dir.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| error(&path, e))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(OperationLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(StoreError {
                path,
                problem: "another artifact-gate operation is running (busy)".to_owned(),
            }),
            Err((_, e)) => Err(error(&path, e)),
        }
    }

    /// The device's provides; empty on a device that never committed an artifact.
    pub fn provides(&self) -> Result<Provides, StoreError> {
        Ok(self.load(PROVIDES)?.unwrap_or_default())
    }

    /// Replaces the provides.
    pub fn save_provides(&self, provides: &Provides) -> Result<(), StoreError> {
        self.save(PROVIDES, provides)
    }

    /// The install awaiting commit, if any.
    pub fn pending(&self) -> Result<Option<PendingInstall>, StoreError> {
        self.load(PENDING)
    }

    /// Records the install awaiting commit.
    pub fn save_pending(&self, pending: &PendingInstall) -> Result<(), StoreError> {
        self.save(PENDING, pending)
    }

    /// Commits `pending`: the provides change and the pending record goes, in that order, so a
    /// crash in between leaves a commit that can be repeated with the same result.
    pub fn commit(&self, pending: &PendingInstall) -> Result<(), StoreError> {
        let provides = self.provides()?.after(&pending.claims);
        self.save_provides(&provides)?;
        self.clear_pending()
    }

    /// Commits `pending`'s provides but keeps its record at `stage`, for a commit stopped
    /// before `ArtifactCommit_Leave` or `Cleanup`.
    pub fn commit_to(&self, pending: &PendingInstall, stage: Stage) -> Result<(), StoreError> {
        let provides = self.provides()?.after(&pending.claims);
        self.save_provides(&provides)?;
        let mut kept = pending.clone();
        kept.stage = stage;
        self.save_pending(&kept)
    }

    /// Forgets the install awaiting commit.
    pub fn clear_pending(&self) -> Result<(), StoreError> {
        let path = self.dir.join(PENDING);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(error(&path, e)),
        }
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| error(&self.dir, e))
    }

    fn load<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, StoreError> {
        let path = self.dir.join(name);
        match persist::read_optional(&path).map_err(|e| error(&path, e))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| error(&path, e)),
        }
    }

    fn save<T: Serialize>(&self, name: &str, value: &T) -> Result<(), StoreError> {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&self.dir).map_err(|e| error(&self.dir, e))?;
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| error(&path, e))?;
        persist::write_atomic(&path, &bytes).map_err(|e| error(&path, e))
    }
}

fn error(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        path: path.to_owned(),
        problem: e.to_string(),
    }
}

/// Held while an operation runs; dropping it releases the lock.
#[derive(Debug)]
pub struct OperationLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

const LOCK: &str = "lock";
const PROVIDES: &str = "provides.json";
const PENDING: &str = "pending-install.json";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::module::RebootNeed;

    fn record(reboot: &str) -> String {
        format!(
            r#"{{"claims":{{"artifact_name":"a","artifact_group":null,"provides":{{}},"clears_provides":null}},
               "payload_type":"single-file","tree":"/t","reboot":"{reboot}",
               "supports_rollback":true}}"#
        )
    }

    #[test]
    fn the_reboot_need_is_written_in_one_spelling_and_old_records_still_read() {
        for (old, need) in [
            ("No", RebootNeed::No),
            ("Yes", RebootNeed::Yes),
            ("Automatic", RebootNeed::Automatic),
        ] {
            let read: PendingInstall = serde_json::from_str(&record(old)).unwrap();
            assert_eq!(read.reboot, need);
            let written = serde_json::to_value(&read).unwrap();
            assert_eq!(written["reboot"], need.as_str());
            let again: PendingInstall = serde_json::from_value(written).unwrap();
            assert_eq!(again, read);
        }
        assert!(serde_json::from_str::<PendingInstall>(&record("maybe")).is_err());
    }
}
