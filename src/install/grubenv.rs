//! Mender's GRUB boot environment, kept the way `grub-mender-grubenv-set` keeps it.
//!
//! GRUB cannot checksum its environment and the files usually sit on a FAT partition, so the
//! layout has two copies, `mender_grubenv1/` and `mender_grubenv2/`, each holding `env` (the
//! variables), `lock` (a GRUB environment block with `editing=0|1`) and `lock.sha256sum` (the
//! digest of `lock` while `editing=0`). A copy is valid when its lock matches the digest. A write
//! marks copy 2 as being edited, changes it, marks it clean, then does the same to copy 1; a copy
//! left invalid by a power cut is restored from the other one before the next read or write.
//! The files themselves are edited with GRUB's own `grub-editenv` (spec §8.4).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::bootenv::{BootEnvError, run_tool};

const TOOL: &str = "grub-editenv";

/// Where the upstream tools look for the environment when `/etc/mender_grubenv.config` does
/// not say, in their order.
const DEFAULT_DIRS: [&str; 4] = [
    "/boot/efi/grub-mender-grubenv",
    "/boot/grub/grub-mender-grubenv",
    "/boot/efi/EFI/BOOT",
    "/boot/grub",
];

/// The upstream tools' lock file; taking it too keeps us from interleaving with them.
const SYSTEM_LOCK: &str = "/var/lock/grub-mender-grubenv-set.lock";

/// A grub-mender-grubenv environment directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrubEnv {
    dir: PathBuf,
    lock: PathBuf,
}

/// One of the two copies.
struct EnvCopy {
    env: PathBuf,
    lock: PathBuf,
    locksum: PathBuf,
}

impl GrubEnv {
    /// The environment in `dir`, serialised against other writers through `lock`.
    pub fn new(dir: PathBuf, lock: PathBuf) -> Self {
        Self { dir, lock }
    }

    /// The environment in `dir`, serialised through the upstream tools' own lock file.
    pub fn with_system_lock(dir: PathBuf) -> Self {
        Self::new(dir, PathBuf::from(SYSTEM_LOCK))
    }

    /// A relocated environment (tests, unusual layouts): its lock file lives in `dir` itself, so
    /// nothing outside it is touched.
    pub fn relocated(dir: PathBuf) -> Self {
        let lock = dir.join("grub-mender-grubenv-set.lock");
        Self { dir, lock }
    }

    /// The system's environment, found as the upstream tools find it: `ENV_DIR` from
    /// `/etc/mender_grubenv.config`, else the first default directory that holds
    /// `mender_grubenv1`. `None` when the device has none (it uses U-Boot).
    pub fn locate_system() -> Option<Self> {
        let configured = std::fs::read_to_string("/etc/mender_grubenv.config")
            .ok()
            .and_then(|text| env_dir_setting(&text));
        let dir = configured.or_else(|| {
            DEFAULT_DIRS
                .iter()
                .map(PathBuf::from)
                .find(|d| d.join("mender_grubenv1").is_dir())
        })?;
        Some(Self::new(dir, PathBuf::from(SYSTEM_LOCK)))
    }

    /// The directory holding both copies.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `names` from copy 1 (after repairing either copy); missing ones are absent.
    pub fn read(&self, names: &[&str]) -> Result<BTreeMap<String, String>, BootEnvError> {
        let _guard = self.lock()?;
        self.check_and_restore()?;
        let listing = run_tool(TOOL, Command::new(TOOL).arg(&self.copy(1).env).arg("list"))?;
        Ok(listing
            .lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(k, _)| names.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }

    /// Sets every `(name, value)`: copy 2 first, then copy 1, each bracketed by its lock, so a
    /// power cut at any point leaves one valid copy with either all old or all new values.
    pub fn write(&self, values: &[(&str, String)]) -> Result<(), BootEnvError> {
        for (k, v) in values {
            if k.is_empty() || k.contains(['=', '\n']) || v.contains('\n') {
                return Err(fail(format!(
                    "refusing to write variable {}={}",
                    crate::error::escape::quoted(k),
                    crate::error::escape::quoted(v)
                )));
            }
        }
        let _guard = self.lock()?;
        self.check_and_restore()?;
        for n in [2, 1] {
            let copy = self.copy(n);
            editenv(&copy.lock, &["editing=1".to_owned()])?;
            let assignments: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            editenv(&copy.env, &assignments)?;
            editenv(&copy.lock, &["editing=0".to_owned()])?;
            if !copy.is_valid() {
                return Err(fail(format!(
                    "{} does not match {} after the update",
                    copy.lock.display(),
                    copy.locksum.display()
                )));
            }
        }
        Ok(())
    }

    fn copy(&self, n: u8) -> EnvCopy {
        let dir = self.dir.join(format!("mender_grubenv{n}"));
        EnvCopy {
            env: dir.join("env"),
            lock: dir.join("lock"),
            locksum: dir.join("lock.sha256sum"),
        }
    }

    /// Restores a copy that a power cut left mid-edit from the other one.
    fn check_and_restore(&self) -> Result<(), BootEnvError> {
        let (one, two) = (self.copy(1), self.copy(2));
        match (one.is_valid(), two.is_valid()) {
            (true, true) => Ok(()),
            (true, false) => restore(&one, &two),
            (false, true) => restore(&two, &one),
            (false, false) => Err(fail(format!(
                "both copies in {} are corrupt (lock does not match lock.sha256sum)",
                self.dir.display()
            ))),
        }
    }

    /// The upstream tools wait up to one second for their lock; so do we.
    fn lock(&self) -> Result<nix::fcntl::Flock<File>, BootEnvError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| fail(format!("{}: {e}", self.lock.display())))?;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut file = file;
        loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(guard) => return Ok(guard),
                Err((back, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                    file = back;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, e)) => {
                    return Err(fail(format!("{}: cannot lock: {e}", self.lock.display())));
                }
            }
        }
    }
}

impl EnvCopy {
    /// `lock.sha256sum` names the digest of `lock` as `sha256sum` prints it.
    fn is_valid(&self) -> bool {
        let Ok(sum) = read_small(&self.locksum) else {
            return false;
        };
        let Some(expected) = String::from_utf8_lossy(&sum)
            .split_whitespace()
            .next()
            .map(str::to_ascii_lowercase)
        else {
            return false;
        };
        match read_small(&self.lock) {
            Ok(lock) => hex::encode(Sha256::digest(&lock)) == expected,
            Err(_) => false,
        }
    }
}

fn restore(good: &EnvCopy, bad: &EnvCopy) -> Result<(), BootEnvError> {
    tracing::warn!(
        from = %good.env.display(),
        to = %bad.env.display(),
        "GRUB environment copy was left mid-edit; restoring it"
    );
    let env = read_small(&good.env).map_err(|e| fail(format!("{}: {e}", good.env.display())))?;
    write_synced(&bad.env, &env)?;
    run_tool(TOOL, Command::new(TOOL).arg(&bad.lock).arg("create"))?;
    editenv(&bad.lock, &["editing=0".to_owned()])?;
    let lock = read_small(&bad.lock).map_err(|e| fail(format!("{}: {e}", bad.lock.display())))?;
    let line = format!("{}  lock\n", hex::encode(Sha256::digest(&lock)));
    write_synced(&bad.locksum, line.as_bytes())?;
    if bad.is_valid() {
        Ok(())
    } else {
        Err(fail(format!("unable to restore {}", bad.env.display())))
    }
}

/// `grub-editenv <file> set k=v…`, then `fsync` so the next step starts from durable state.
fn editenv(file: &Path, assignments: &[String]) -> Result<(), BootEnvError> {
    run_tool(
        TOOL,
        Command::new(TOOL).arg(file).arg("set").args(assignments),
    )?;
    File::open(file)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail(format!("sync {}: {e}", file.display())))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BootEnvError> {
    crate::state::persist::write_atomic(path, bytes)
        .map_err(|e| fail(format!("{}: {e}", path.display())))
}

/// Environment files are 1 KiB blocks; anything over 64 KiB is not one.
fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(64 * 1024 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > 64 * 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than 64 KiB",
        ));
    }
    Ok(bytes)
}

/// The last `ENV_DIR = …` line, as the upstream scripts read it.
fn env_dir_setting(config: &str) -> Option<PathBuf> {
    config
        .lines()
        .filter_map(|line| line.strip_prefix("ENV_DIR"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(str::trim)
        .next_back()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn fail(problem: impl std::fmt::Display) -> BootEnvError {
    BootEnvError {
        tool: TOOL,
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_dir_setting_takes_the_last_assignment() {
        let text = "# comment\nENV_DIR=/boot/one\nOTHER=x\nENV_DIR = /boot/two \n";
        assert_eq!(env_dir_setting(text), Some(PathBuf::from("/boot/two")));
        assert_eq!(env_dir_setting("ENV_DIRX=/a\n"), None);
        assert_eq!(
            env_dir_setting("ENV_DIR=/a\nENV_DIR=\n"),
            None,
            "the last line wins"
        );
    }
}
