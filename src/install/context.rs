//! What an install is given and what it reports: the device's settings ([`InstallContext`]),
//! the phases it goes through, how it ended and why it failed.

use std::time::Duration;

use thiserror::Error;

use super::bootenv::BootEnv;
use super::download::DownloadError;
use super::module::{ModuleError, RebootNeed};
use super::rootfs::{RootfsError, RootfsLayout};
use super::scripts::{RetryPolicy, ScriptError, StateScripts};
use crate::artifact::ReadError;
use crate::config::mender_conf::MenderPaths;
use crate::keys::load::BrokenKey;
use crate::signature::SignaturePolicy;
use crate::state::store::{Store, StoreError};
use crate::stream::limits::Limits;

/// Everything an install needs to know about the device.
#[derive(Debug, Clone)]
pub struct InstallContext {
    /// Mender's directories.
    pub paths: MenderPaths,
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// mender.conf verify-key entries that cannot be used (the others verify).
    pub broken_keys: Vec<BrokenKey>,
    /// The device type (from the device_type file).
    pub device_type: String,
    /// `ModuleTimeoutSeconds`.
    pub module_timeout: Duration,
    /// `StateScriptTimeoutSeconds`.
    pub script_timeout: Duration,
    /// `StateScriptRetryIntervalSeconds` and `StateScriptRetryTimeoutSeconds`.
    pub script_retry: RetryPolicy,
    /// `RootfsPartA`/`RootfsPartB`, when both are configured.
    pub rootfs: Option<RootfsLayout>,
    /// The boot environment.
    pub bootenv: BootEnv,
    /// Size caps.
    pub limits: Limits,
    /// Told of each phase as it starts (the daemon's progress events and systemd status).
    pub observer: Observer,
    /// The server deployment this install carries out (the Mender agent's), stored with the
    /// pending record.
    pub deployment: Option<String>,
    /// Install only the artifact whose raw manifest has this SHA-256 (`--expect-manifest-sha256`).
    pub expect_manifest_sha256: Option<crate::stream::Sha256Digest>,
    /// The downgrade and security floors (`[policy]`), read before an install and raised at
    /// commit.
    pub floors: crate::state::floor::FloorKeeper,
    /// `[update] module_delivery = "spool"`: payload files wait in this spool for their hash
    /// check before an Update Module reads them.
    pub spool: Option<super::spool::SpoolSettings>,
    /// `--stop-before`: the states this command stops before (command line only).
    pub stops: super::stops::StopBefore,
    /// `install --allow-downgrade`: this one install may go below the release-version floor.
    /// Set by the command line only, never by the API.
    pub allow_downgrade: bool,
}

impl InstallContext {
    /// The state directory.
    pub fn store(&self) -> Store {
        Store::new(&self.paths.datastore_dir)
    }

    /// The device's and the installed artifact's state scripts.
    pub(super) fn scripts(&self) -> StateScripts {
        StateScripts::new(
            &self.paths.datastore_dir,
            &self.paths.conf_dir,
            self.script_timeout,
            self.script_retry,
        )
    }
}

/// The phases an operation reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading, verifying and streaming the artifact to its installer.
    Download,
    /// Activating the verified update.
    ArtifactInstall,
    /// Making it permanent.
    ArtifactCommit,
    /// Undoing it.
    ArtifactRollback,
}

impl Phase {
    /// The name used in events and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Download => "Download",
            Self::ArtifactInstall => "ArtifactInstall",
            Self::ArtifactCommit => "ArtifactCommit",
            Self::ArtifactRollback => "ArtifactRollback",
        }
    }
}

/// A callback for [`Phase`] changes, and a gate that may stop the install before
/// `ArtifactInstall` changes anything; the default does nothing and stops nothing.
#[derive(Clone, Default)]
pub struct Observer {
    notify: Option<std::sync::Arc<dyn Fn(Phase) + Send + Sync>>,
    gate: Option<std::sync::Arc<Gate>>,
}

/// Asked before a phase: `Err(why)` stops the install there.
type Gate = dyn Fn(Phase) -> Result<(), String> + Send + Sync;

impl Observer {
    /// Calls `f` for every phase.
    pub fn new(f: impl Fn(Phase) + Send + Sync + 'static) -> Self {
        Self {
            notify: Some(std::sync::Arc::new(f)),
            gate: None,
        }
    }

    /// Asks `gate` before `ArtifactInstall` starts; an `Err` stops the install there, as a
    /// download failure (nothing was changed; only `Cleanup` runs).
    pub fn with_gate(
        mut self,
        gate: impl Fn(Phase) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.gate = Some(std::sync::Arc::new(gate));
        self
    }

    pub(super) fn phase(&self, phase: Phase) {
        tracing::info!(phase = phase.name(), "phase");
        if let Some(f) = &self.notify {
            f(phase);
        }
    }

    pub(super) fn may_enter(&self, phase: Phase) -> Result<(), InstallError> {
        match &self.gate {
            Some(gate) => gate(phase).map_err(InstallError::Stopped),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (&self.notify, &self.gate) {
            (None, None) => "Observer(none)",
            _ => "Observer(..)",
        })
    }
}

/// How an install ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Installed and committed.
    Committed {
        /// Whether the module wants a reboot.
        reboot: RebootNeed,
    },
    /// Installed; waits for `commit` or `rollback`.
    Pending {
        /// Whether the module wants a reboot.
        reboot: RebootNeed,
    },
    /// Stopped before a state (`--stop-before`); `resume` carries on.
    Stopped {
        /// The state.
        before: super::stops::StopState,
        /// The reboot need known so far.
        reboot: RebootNeed,
    },
    /// The operation `resume` carried on ended on the way back: rolled back or failed, and
    /// cleaned up.
    RolledBack,
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum InstallError {
    /// An install is already waiting for commit or rollback.
    #[error("update already in progress ({0}); commit or roll back first")]
    Busy(String),
    /// Reading or verifying the artifact failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The Download into the module failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// A module state failed.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The persistent state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A state script failed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// A rootfs-image without `RootfsPartA`/`RootfsPartB`.
    #[error("rootfs-image updates need RootfsPartA and RootfsPartB in mender.conf")]
    NoRootfsLayout,
    /// The A/B installer failed.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// `rollback` on a module without rollback support.
    #[error("the installed update ({0}) does not support rollback")]
    NoRollback(String),
    /// A floor could not be read or raised.
    #[error(transparent)]
    Floor(#[from] crate::state::floor::FloorError),
    /// The update was committed, but its floor could not be raised; the next commit raises it.
    #[error("committed {artifact}, but its floor was not raised: {source}")]
    FloorNotRaised {
        /// The committed artifact.
        artifact: String,
        /// Why.
        source: crate::state::floor::FloorError,
    },
    /// The pending operation stopped before a state; only `resume` carries it on.
    #[error(
        "the update of {artifact} stopped before {before}; 'artifact-gate resume' carries it on \
         ('rollback' drops it while it stands before ArtifactInstall_Enter)"
    )]
    StoppedAt {
        /// The artifact.
        artifact: String,
        /// Where it stopped.
        before: super::stops::StopState,
    },
    /// The caller's gate stopped the install before `ArtifactInstall` (a deployment aborted
    /// on the server).
    #[error("stopped before ArtifactInstall: {0}")]
    Stopped(String),
}

/// What `commit`/`rollback` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// There was no install waiting.
    NothingPending,
    /// The named artifact was committed or rolled back.
    Done(String),
    /// Stopped before a state (`--stop-before`); `resume` carries on.
    Stopped(super::stops::StopState),
}

/// What is installed and what waits for commit or rollback, as `status --json` and the
/// daemon's `GET /v1/status` report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstalledReport {
    /// The installed artifact, if any is recorded.
    pub artifact_name: Option<String>,
    /// Its group.
    pub artifact_group: Option<String>,
    /// The install that waits for its reboot or commit.
    pub pending: Option<PendingReport>,
    /// The mender.conf verify-key entries that cannot be used (the others verify).
    pub broken_verify_keys: Vec<BrokenKey>,
}

/// A pending install, as reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingReport {
    /// Its artifact.
    pub artifact_name: String,
    /// Its payload type.
    pub payload_type: String,
    /// What it asked for.
    pub reboot: RebootNeed,
    /// Whether it can be rolled back.
    pub supports_rollback: bool,
}
