//! State scripts (spec §5.5): `<State>_<Enter|Leave|Error>_<NN>[_<suffix>]`, from the artifact
//! (`<datastore>/scripts`) and from the device (`<conf dir>/scripts`).
//!
//! The artifact's scripts are written to disk only from a verified header, after the whole
//! artifact passed every check (stricter than Mender, which writes them while parsing the
//! header). For a state, the scripts of both directories run in name order; an `Enter` or
//! `Leave` script that fails (or runs past `StateScriptTimeoutSeconds`) fails the state, and the
//! state's `Error` scripts then run, their own failures only logged.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use thiserror::Error;

use super::process::{self, Ran};
use crate::artifact::file_names;

/// Which part of a state a script runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Before the state.
    Enter,
    /// After the state succeeded.
    Leave,
    /// After the state failed.
    Error,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Enter => "Enter",
            Self::Leave => "Leave",
            Self::Error => "Error",
        }
    }
}

/// A state script failed.
#[derive(Debug, Error)]
pub enum ScriptError {
    /// Exited non-zero.
    #[error("state script {script} failed (exit {code}): {stderr}")]
    Failed {
        /// Script path.
        script: PathBuf,
        /// Exit code.
        code: i32,
        /// The end of its stderr.
        stderr: String,
    },
    /// Ran past the timeout.
    #[error("state script {script} did not finish within {seconds} s and was killed")]
    TimedOut {
        /// Script path.
        script: PathBuf,
        /// Timeout.
        seconds: u64,
    },
    /// Could not be listed, written or started.
    #[error("state scripts in {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
}

/// The two script directories and the timeout.
#[derive(Debug, Clone)]
pub struct StateScripts {
    artifact_dir: PathBuf,
    device_dir: PathBuf,
    timeout: Duration,
    retry: RetryPolicy,
}

/// How a script that exits 21 ("retry later", spec §5.5) is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `StateScriptRetryIntervalSeconds` (default 60).
    pub interval: Duration,
    /// `StateScriptRetryTimeoutSeconds` (default 1800): how long retries may go on.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(1800),
        }
    }
}

impl StateScripts {
    /// Scripts in `<datastore>/scripts` (artifact) and `<conf dir>/scripts` (device).
    pub fn new(datastore: &Path, conf_dir: &Path, timeout: Duration, retry: RetryPolicy) -> Self {
        Self {
            artifact_dir: datastore.join("scripts"),
            device_dir: conf_dir.join("scripts"),
            timeout,
            retry,
        }
    }

    /// Replaces the artifact scripts with `scripts` (names already checked against the
    /// state-script grammar by the header parser).
    pub fn install_artifact_scripts(
        &self,
        scripts: &[(crate::artifact::file_names::ScriptName, Vec<u8>)],
    ) -> Result<(), ScriptError> {
        let dir = &self.artifact_dir;
        let io_err = |source| ScriptError::Io {
            path: dir.clone(),
            source,
        };
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        fs::create_dir_all(dir).map_err(io_err)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        fs::write(dir.join("version"), "3").map_err(io_err)?;
        for (name, body) in scripts {
            let path = dir.join(name);
            fs::write(&path, body).map_err(io_err)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(io_err)?;
        }
        Ok(())
    }

    /// Runs `<state>_<action>_*` scripts. For `Error`, every script runs and failures are only
    /// logged.
    pub fn run(&self, state: &str, action: Action) -> Result<(), ScriptError> {
        for script in self.list(state, action)? {
            let result = self.run_one(&script);
            match (result, action) {
                (Ok(()), _) => {}
                (Err(e), Action::Error) => tracing::warn!("{e}"),
                (Err(e), _) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs `body` as `state`, wrapped in its Enter and Leave scripts; on failure the Error
    /// scripts run and the first failure is returned.
    pub fn enter<T, E: From<ScriptError>>(
        &self,
        state: &str,
        body: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let result = self
            .run(state, Action::Enter)
            .map_err(E::from)
            .and_then(|()| body());
        if result.is_err() {
            let _ = self.run(state, Action::Error);
        }
        result
    }

    /// The `Enter` scripts, `body` and the `Leave` scripts of `state`; the `Error` scripts
    /// when any of them fails.
    pub fn around<T, E: From<ScriptError>>(
        &self,
        state: &str,
        body: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.enter(state, || {
            let value = body()?;
            self.run(state, Action::Leave).map_err(E::from)?;
            Ok(value)
        })
    }

    fn list(&self, state: &str, action: Action) -> Result<Vec<PathBuf>, ScriptError> {
        let prefix = format!("{state}_{}_", action.as_str());
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for dir in [&self.device_dir, &self.artifact_dir] {
            let entries = match fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(ScriptError::Io {
                        path: dir.clone(),
                        source,
                    });
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&prefix) && valid_name(&name) {
                    found.push((name, entry.path()));
                }
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    /// Runs one script; exit code 21 means "retry later": it runs again after the retry
    /// interval until the retry timeout has passed, then counts as a failure.
    fn run_one(&self, script: &Path) -> Result<(), ScriptError> {
        let give_up = std::time::Instant::now() + self.retry.timeout;
        loop {
            let mut command = Command::new(script);
            let ran =
                process::run(&mut command, self.timeout).map_err(|source| ScriptError::Io {
                    path: script.to_owned(),
                    source,
                })?;
            match ran {
                Ran::TimedOut => {
                    return Err(ScriptError::TimedOut {
                        script: script.to_owned(),
                        seconds: self.timeout.as_secs(),
                    });
                }
                Ran::Exited {
                    code: RETRY_LATER, ..
                } if std::time::Instant::now() + self.retry.interval < give_up => {
                    tracing::info!(script = %script.display(), "state script asked to be retried later");
                    std::thread::sleep(self.retry.interval);
                }
                Ran::Exited {
                    success: false,
                    code,
                    stderr,
                    ..
                } => {
                    return Err(ScriptError::Failed {
                        script: script.to_owned(),
                        code,
                        stderr: process::tail(&stderr),
                    });
                }
                Ran::Exited { .. } => return Ok(()),
            }
        }
    }
}

/// The exit code with which a state script asks to be run again later.
const RETRY_LATER: i32 = 21;

/// Device scripts may also be for states an artifact cannot carry (`Download`, `Idle`, `Sync`);
/// the grammar check keeps editor backups and other stray files out.
fn valid_name(name: &str) -> bool {
    if file_names::check_script_name(name, 255).is_ok() {
        return true;
    }
    let Some((state, rest)) = name.split_once('_') else {
        return false;
    };
    matches!(state, "Download" | "Idle" | "Sync")
        && file_names::check_script_name(&format!("ArtifactInstall_{rest}"), 255).is_ok()
}
