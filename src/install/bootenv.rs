//! The U-Boot environment through Debian's `libubootenv-tool` (`fw_printenv`/`fw_setenv`).
//!
//! Changes are made in one `fw_setenv -s <script>` call, so the boot variables switch together
//! (spec §8.4). `$ARTIFACT_GATE_FW_ENV_CONFIG` names a `fw_env.config` other than the default
//! `/etc/fw_env.config` (a file-backed environment in tests, or an unusual board).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use thiserror::Error;

use super::process::{self, Ran};

/// A boot-environment tool failed.
#[derive(Debug, Error)]
#[error("boot environment ({tool}): {problem}")]
pub struct BootEnvError {
    /// `fw_printenv` or `fw_setenv`.
    pub tool: &'static str,
    /// What went wrong.
    pub problem: String,
}

/// Access to the boot environment.
#[derive(Debug, Clone, Default)]
pub struct BootEnv {
    config: Option<std::path::PathBuf>,
}

impl BootEnv {
    /// The environment named by `$ARTIFACT_GATE_FW_ENV_CONFIG`, else the tools' default.
    pub fn from_env() -> Self {
        Self {
            config: std::env::var_os("ARTIFACT_GATE_FW_ENV_CONFIG")
                .filter(|v| !v.is_empty())
                .map(Into::into),
        }
    }

    /// Reads `names` (missing ones are absent from the map).
    pub fn read(&self, names: &[&str]) -> Result<BTreeMap<String, String>, BootEnvError> {
        let mut command = self.command("fw_printenv");
        let out = run("fw_printenv", &mut command)?;
        let mut values = BTreeMap::new();
        for line in out.lines() {
            if let Some((k, v)) = line.split_once('=')
                && names.contains(&k)
            {
                values.insert(k.to_owned(), v.to_owned());
            }
        }
        Ok(values)
    }

    /// Sets every `(name, value)` in one write.
    pub fn write(&self, values: &[(&str, String)]) -> Result<(), BootEnvError> {
        let mut script = tempfile_in_tmp()?;
        for (k, v) in values {
            writeln!(script, "{k}={v}").map_err(|e| fail("fw_setenv", e))?;
        }
        script.flush().map_err(|e| fail("fw_setenv", e))?;
        let mut command = self.command("fw_setenv");
        command.arg("-s").arg(script.path());
        run("fw_setenv", &mut command).map(|_| ())
    }

    fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(tool);
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        command
    }
}

fn run(tool: &'static str, command: &mut Command) -> Result<String, BootEnvError> {
    match process::run(command, TOOL_TIMEOUT).map_err(|e| fail(tool, e))? {
        Ran::TimedOut => Err(fail(tool, "timed out")),
        Ran::Exited {
            success: false,
            code,
            stderr,
            ..
        } => Err(fail(
            tool,
            format!("exit {code}: {}", process::tail(&stderr)),
        )),
        Ran::Exited { stdout, .. } => Ok(String::from_utf8_lossy(&stdout).into_owned()),
    }
}

fn fail(tool: &'static str, problem: impl std::fmt::Display) -> BootEnvError {
    BootEnvError {
        tool,
        problem: problem.to_string(),
    }
}

/// A private temporary file for the `fw_setenv` script.
fn tempfile_in_tmp() -> Result<NamedScript, BootEnvError> {
    let path = std::env::temp_dir().join(format!(
        "artifact-gate-fw-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| fail("fw_setenv", e))?;
    Ok(NamedScript { file, path })
}

struct NamedScript {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl NamedScript {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Write for NamedScript {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for NamedScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
