//! The boot environment: U-Boot's through Debian's `libubootenv-tool` (`fw_printenv`/
//! `fw_setenv`), or Mender's GRUB environment ([`super::grubenv`]).
//!
//! U-Boot changes are made in one `fw_setenv -s <script>` call, so the boot variables switch
//! together (spec §8.4). Which environment a device has is found as the Go client finds it: a
//! grub-mender-grubenv directory first, else U-Boot. Two variables relocate them (tests, unusual
//! boards): `$ARTIFACT_GATE_GRUBENV_DIR` names a GRUB environment directory, and
//! `$ARTIFACT_GATE_FW_ENV_CONFIG` a `fw_env.config` other than `/etc/fw_env.config`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use thiserror::Error;

use super::grubenv::GrubEnv;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEnv {
    /// U-Boot, through `fw_printenv`/`fw_setenv` with an optional `-c <fw_env.config>`.
    UBoot {
        /// A `fw_env.config` other than the tools' default.
        config: Option<PathBuf>,
    },
    /// Mender's GRUB environment.
    Grub(GrubEnv),
}

impl Default for BootEnv {
    fn default() -> Self {
        Self::UBoot { config: None }
    }
}

impl BootEnv {
    /// `$ARTIFACT_GATE_GRUBENV_DIR`, else `$ARTIFACT_GATE_FW_ENV_CONFIG`, else the system's GRUB
    /// environment if it has one, else U-Boot with the tools' default configuration.
    pub fn from_env() -> Self {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("ARTIFACT_GATE_GRUBENV_DIR") {
            return Self::Grub(GrubEnv::relocated(dir.into()));
        }
        if let Some(config) = var("ARTIFACT_GATE_FW_ENV_CONFIG") {
            return Self::UBoot {
                config: Some(config.into()),
            };
        }
        GrubEnv::locate_system().map_or_else(Self::default, Self::Grub)
    }

    /// Reads `names` (missing ones are absent from the map).
    pub fn read(&self, names: &[&str]) -> Result<BTreeMap<String, String>, BootEnvError> {
        let config = match self {
            Self::Grub(grub) => return grub.read(names),
            Self::UBoot { config } => config,
        };
        let mut command = uboot_command("fw_printenv", config.as_deref());
        let out = run_tool("fw_printenv", &mut command)?;
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
        let config = match self {
            Self::Grub(grub) => return grub.write(values),
            Self::UBoot { config } => config,
        };
        let mut script = tempfile_in_tmp()?;
        for (k, v) in values {
            writeln!(script, "{k}={v}").map_err(|e| fail("fw_setenv", e))?;
        }
        script.flush().map_err(|e| fail("fw_setenv", e))?;
        let mut command = uboot_command("fw_setenv", config.as_deref());
        command.arg("-s").arg(script.path());
        run_tool("fw_setenv", &mut command).map(|_| ())
    }

    /// Names the environment for messages and `status`.
    pub fn describe(&self) -> String {
        match self {
            Self::UBoot { config: None } => "U-Boot (fw_env.config default)".to_owned(),
            Self::UBoot {
                config: Some(config),
            } => format!("U-Boot ({})", config.display()),
            Self::Grub(grub) => format!("GRUB ({})", grub.dir().display()),
        }
    }
}

fn uboot_command(tool: &str, config: Option<&Path>) -> Command {
    let mut command = Command::new(tool);
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    command
}

/// Runs a boot-environment tool and returns its stdout; a failure carries its stderr.
pub(super) fn run_tool(tool: &'static str, command: &mut Command) -> Result<String, BootEnvError> {
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
