//! Mender Update Modules, protocol v3: the module's file tree and its state calls.
//!
//! Spec §8.1 (`update-modules-v3-file-api.md`): a module is `<data dir>/modules/v3/<type>`,
//! called as `<module> <State> <tree>` with the tree as working directory. The tree holds
//! `version`, `current_*`, `header/*` and an empty `tmp/`. Query states answer on the first
//! stdout line; anything else there is a protocol error. A state that exits non-zero failed; a
//! module that runs past its timeout is killed with its whole process group.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use super::process::{self, Ran};
use crate::artifact::CheckedHeader;

/// The states a module is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleState {
    /// Query: may the client pass file sizes (`DownloadWithFileSizes`)?
    ProvidePayloadFileSizes,
    /// Receive the payload (streams or files).
    Download,
    /// Receive the payload, with sizes in `stream-next`.
    DownloadWithFileSizes,
    /// Install the downloaded payload.
    ArtifactInstall,
    /// Query: is a reboot needed?
    NeedsArtifactReboot,
    /// Reboot (for modules that answered `Yes`).
    ArtifactReboot,
    /// Check the system after the reboot.
    ArtifactVerifyReboot,
    /// Query: can the module roll back?
    SupportsRollback,
    /// Make the update permanent.
    ArtifactCommit,
    /// Undo the update.
    ArtifactRollback,
    /// Reboot after a rollback.
    ArtifactRollbackReboot,
    /// Check the system after the rollback reboot.
    ArtifactVerifyRollbackReboot,
    /// The update failed.
    ArtifactFailure,
    /// Remove temporary data; always the last call.
    Cleanup,
}

impl ModuleState {
    /// The state's name as the module receives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProvidePayloadFileSizes => "ProvidePayloadFileSizes",
            Self::Download => "Download",
            Self::DownloadWithFileSizes => "DownloadWithFileSizes",
            Self::ArtifactInstall => "ArtifactInstall",
            Self::NeedsArtifactReboot => "NeedsArtifactReboot",
            Self::ArtifactReboot => "ArtifactReboot",
            Self::ArtifactVerifyReboot => "ArtifactVerifyReboot",
            Self::SupportsRollback => "SupportsRollback",
            Self::ArtifactCommit => "ArtifactCommit",
            Self::ArtifactRollback => "ArtifactRollback",
            Self::ArtifactRollbackReboot => "ArtifactRollbackReboot",
            Self::ArtifactVerifyRollbackReboot => "ArtifactVerifyRollbackReboot",
            Self::ArtifactFailure => "ArtifactFailure",
            Self::Cleanup => "Cleanup",
        }
    }
}

/// A module's answer to `NeedsArtifactReboot`. Spelled `no`, `yes`, `automatic` wherever it
/// is written (the API, `--json`, the pending record); records written by earlier versions
/// (`No`, `Yes`, `Automatic`) still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RebootNeed {
    /// No reboot (`No` or nothing).
    #[serde(alias = "No")]
    No,
    /// The module reboots itself in `ArtifactReboot`.
    #[serde(alias = "Yes")]
    Yes,
    /// The client reboots the system.
    #[serde(alias = "Automatic")]
    Automatic,
}

impl RebootNeed {
    /// The one spelling used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Yes => "yes",
            Self::Automatic => "automatic",
        }
    }
}

/// Why a module call failed.
#[derive(Debug, Error)]
pub enum ModuleError {
    /// No module for the payload type.
    #[error("no Update Module for payload type '{payload_type}' at {path}")]
    NotFound {
        /// Payload type.
        payload_type: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The module could not be started.
    #[error("cannot run Update Module {path} for {state}: {source}")]
    Spawn {
        /// Module path.
        path: PathBuf,
        /// State.
        state: &'static str,
        /// Cause.
        source: io::Error,
    },
    /// The module exited non-zero.
    #[error("Update Module {state} failed (exit {code}): {stderr}")]
    Failed {
        /// State.
        state: &'static str,
        /// Exit code, or -1 for a signal.
        code: i32,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// The module ran past its timeout and was killed.
    #[error("Update Module {state} did not finish within {seconds} s and was killed")]
    TimedOut {
        /// State.
        state: &'static str,
        /// Timeout.
        seconds: u64,
    },
    /// A query answer outside the protocol.
    #[error(
        "Update Module answered {} to {state}; expected one of {}",
        crate::error::escape::quoted(.answer),
        crate::error::escape::quoted_list(.expected)
    )]
    Protocol {
        /// State.
        state: &'static str,
        /// What it printed.
        answer: String,
        /// Valid answers.
        expected: &'static [&'static str],
    },
    /// Preparing the file tree failed.
    #[error("cannot prepare the Update Module file tree {path}: {source}")]
    Tree {
        /// Tree root.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// What the device runs now, for the `current_*` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentSystem {
    /// Installed artifact name.
    pub artifact_name: String,
    /// Installed artifact group.
    pub artifact_group: String,
    /// The device type.
    pub device_type: String,
}

/// The module's working tree, `<datastore>/modules/v3/payloads/0000/tree`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleTree {
    root: PathBuf,
}

impl ModuleTree {
    /// Removes any old tree at `root` and lays out a fresh one for `header` (spec §8.1).
    ///
    /// Header JSON is written re-serialised with two-space indents, as the C++ client does;
    /// `meta-data` is `null` when the artifact has none.
    pub fn prepare(
        root: &Path,
        header: &CheckedHeader,
        current: &CurrentSystem,
    ) -> Result<Self, ModuleError> {
        let tree_error = |source| ModuleError::Tree {
            path: root.to_owned(),
            source,
        };
        match fs::remove_dir_all(root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(tree_error(e)),
        }
        let pretty = |raw: &[u8]| {
            serde_json::from_slice::<Value>(raw)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .map_err(|e| tree_error(io::Error::new(io::ErrorKind::InvalidData, e)))
        };
        let meta = match &header.meta_data() {
            Some(v) => serde_json::to_string_pretty(v)
                .map_err(|e| tree_error(io::Error::new(io::ErrorKind::InvalidData, e)))?,
            None => "null".to_owned(),
        };
        let files: [(&str, String); 10] = [
            ("version", "3\n".to_owned()),
            (
                "current_artifact_name",
                format!("{}\n", current.artifact_name),
            ),
            (
                "current_artifact_group",
                format!("{}\n", current.artifact_group),
            ),
            ("current_device_type", format!("{}\n", current.device_type)),
            ("header/artifact_name", header.artifact_name().to_owned()),
            (
                "header/artifact_group",
                header.artifact_group().unwrap_or_default().to_owned(),
            ),
            (
                "header/payload_type",
                header.payload_type().name().unwrap_or_default().to_owned(),
            ),
            ("header/header-info", pretty(header.raw_header_info())?),
            ("header/type-info", pretty(header.raw_type_info())?),
            ("header/meta-data", meta),
        ];
        fs::create_dir_all(root.join("header")).map_err(tree_error)?;
        fs::create_dir_all(root.join("tmp")).map_err(tree_error)?;
        for (name, content) in files {
            fs::write(root.join(name), content).map_err(tree_error)?;
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// A tree prepared earlier (by an install that is now being committed or rolled back).
    pub fn existing(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// The tree's root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Removes the tree after the protocol's `Cleanup` of a failed install, so nothing written
    /// for an artifact that did not install (`files/` copies, `streams/`, the header copies)
    /// stays on the device; the directories above it go too while they are empty.
    pub fn discard(&self) {
        match fs::remove_dir_all(&self.root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "could not remove the payload tree {} of a failed install: {e}",
                self.root.display()
            ),
        }
        // `payloads/0000`, `payloads`, `v3`, `modules`: removed only when empty.
        for dir in self.root.ancestors().skip(1).take(4) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// An Update Module executable with its timeout.
#[derive(Debug, Clone)]
pub struct UpdateModule {
    path: PathBuf,
    timeout: Duration,
}

impl UpdateModule {
    /// The module for `payload_type` under `data_dir` (`/usr/share/mender`).
    ///
    /// `payload_type` comes from a verified header, where it was checked to be one plain path
    /// component, so it cannot point outside `modules/v3`.
    pub fn locate(
        data_dir: &Path,
        payload_type: &str,
        timeout: Duration,
    ) -> Result<Self, ModuleError> {
        let path = data_dir.join("modules/v3").join(payload_type);
        if !path.is_file() {
            return Err(ModuleError::NotFound {
                payload_type: payload_type.to_owned(),
                path,
            });
        }
        Ok(Self { path, timeout })
    }

    /// Runs `state`; returns what the module printed on stdout.
    pub fn call(&self, state: ModuleState, tree: &ModuleTree) -> Result<String, ModuleError> {
        let name = state.as_str();
        let mut command = Command::new(&self.path);
        command.arg(name).arg(tree.path()).current_dir(tree.path());
        let spawn_error = |source| ModuleError::Spawn {
            path: self.path.clone(),
            state: name,
            source,
        };
        match process::run(&mut command, self.timeout).map_err(spawn_error)? {
            Ran::TimedOut => Err(ModuleError::TimedOut {
                state: name,
                seconds: self.timeout.as_secs(),
            }),
            Ran::Exited {
                success: false,
                code,
                stderr,
                ..
            } => Err(ModuleError::Failed {
                state: name,
                code,
                stderr: process::tail(&stderr),
            }),
            Ran::Exited { stdout, .. } => Ok(String::from_utf8_lossy(&stdout).into_owned()),
        }
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long one call may run.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `NeedsArtifactReboot`: `No` (or nothing), `Yes` or `Automatic`.
    pub fn needs_reboot(&self, tree: &ModuleTree) -> Result<RebootNeed, ModuleError> {
        const EXPECTED: &[&str] = &["No", "Yes", "Automatic", ""];
        let state = ModuleState::NeedsArtifactReboot;
        match answer(&self.call(state, tree)?, state, EXPECTED)? {
            "Yes" => Ok(RebootNeed::Yes),
            "Automatic" => Ok(RebootNeed::Automatic),
            _ => Ok(RebootNeed::No),
        }
    }

    /// `SupportsRollback`: `Yes`, or `No` (or nothing).
    pub fn supports_rollback(&self, tree: &ModuleTree) -> Result<bool, ModuleError> {
        const EXPECTED: &[&str] = &["No", "Yes", ""];
        let state = ModuleState::SupportsRollback;
        Ok(answer(&self.call(state, tree)?, state, EXPECTED)? == "Yes")
    }

    /// `ProvidePayloadFileSizes`: `Yes`, or `No` (or nothing).
    pub fn wants_file_sizes(&self, tree: &ModuleTree) -> Result<bool, ModuleError> {
        const EXPECTED: &[&str] = &["No", "Yes", ""];
        let state = ModuleState::ProvidePayloadFileSizes;
        Ok(answer(&self.call(state, tree)?, state, EXPECTED)? == "Yes")
    }
}

/// The answer on the first line; every later line must be empty (C++ client rule, spec §8.1).
fn answer<'a>(
    stdout: &'a str,
    state: ModuleState,
    expected: &'static [&'static str],
) -> Result<&'a str, ModuleError> {
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    if expected.contains(&first) && lines.all(|l| l.trim().is_empty()) {
        Ok(first)
    } else {
        Err(ModuleError::Protocol {
            state: state.as_str(),
            answer: stdout.to_owned(),
            expected,
        })
    }
}
