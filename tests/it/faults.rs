//! Power-loss behaviour by fault injection (issue #6 item 2): the process is killed with
//! SIGKILL at chosen system calls by `strace -e inject=…:signal=KILL`, the service is then
//! restarted (a restart, not a reboot: partition 2 still runs), and the device must be in one
//! consistent state:
//! - the old system, no install pending, the old provides; or
//! - the new system installed and waiting for its reboot (boot variables on partition 3,
//!   `upgrade_available=1`, the install pending); or
//! - the new system committed (partition 3, `upgrade_available=0`, its provides recorded).
//!
//! Never a half-written boot environment, a state file that does not parse, or provides that
//! disagree with the boot variables. The boot environment is redundant (two copies), as
//! Mender requires of U-Boot devices, so a crash inside `fw_setenv` leaves one valid copy.
//! `fw_setenv` writes the copy that is not current: here env1 for the install (the set-up
//! wrote env2), env2 for the commit or rollback after it.
//!
//! Each point must actually be reached: a run the injection did not kill fails the test, so
//! a point that drifted away from the code cannot pass silently.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon::Daemon;
use crate::device::{BootEnv, PART};
use crate::fixtures::fx;

/// The shared A/B device with a redundant U-Boot environment, seen from here by the partition
/// that runs.
struct Device {
    dev: crate::device::Device,
}

impl Device {
    fn new() -> Self {
        Self {
            dev: crate::device::Device::with_boot(PART, BootEnv::UBootRedundant),
        }
    }

    fn root(&self) -> &Path {
        self.dev.s.root()
    }

    fn fw_config(&self) -> PathBuf {
        self.dev.fw_config()
    }

    fn part(&self, n: u32) -> PathBuf {
        self.dev.part_path(n)
    }

    /// The environment for artifact-gate, with partition `running` mounted as `/`.
    fn env(&self, running: u32) -> Vec<(String, OsString)> {
        self.dev.env_running(running)
    }

    /// Runs artifact-gate normally (for set-up); asserts success.
    fn run_ok(&self, running: u32, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(args)
            .envs(self.env(running))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The files the `-P` filters name must exist when strace starts; stale temporary files
    /// and an empty artifact script directory change nothing for the run.
    fn prepare(&self) {
        for dir in ["var/artifact-gate", "var/scripts"] {
            std::fs::create_dir_all(self.root().join(dir)).unwrap();
        }
        for tmp in [PENDING_TMP, PROVIDES_TMP] {
            std::fs::write(self.root().join(tmp), b"").unwrap();
        }
    }

    /// Runs artifact-gate under strace with the injection. Returns whether the injection
    /// happened as planned: artifact-gate killed, or `fw_setenv` killed and the command
    /// failing because of it.
    fn run_killed(&self, running: u32, args: &[&str], point: &Point) -> bool {
        self.prepare();
        let mut command = Command::new("strace");
        command.args(["-f", "-qq", "-o", "/dev/null", "-P"]);
        command.arg(self.root().join(point.path));
        let out = command
            .arg("-e")
            .arg(format!("trace={}", point.syscall))
            .arg("-e")
            .arg(format!(
                "inject={}:signal=KILL:when={}",
                point.syscall, point.when
            ))
            .arg(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(args)
            .envs(self.env(running))
            .output()
            .unwrap();
        // strace ends itself with the tracee's fatal signal.
        let killed = out.status.signal() == Some(9) || out.status.code() == Some(137);
        match point.victim {
            Victim::Us => killed,
            Victim::FwSetenv => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                !killed && out.status.code() == Some(1) && stderr.contains("fw_setenv")
            }
        }
    }

    fn vars(&self) -> (String, String) {
        let out = Command::new("fw_printenv")
            .arg("-c")
            .arg(self.fw_config())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("using default"),
            "the boot environment is corrupt: {stderr}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_default()
                .to_owned()
        };
        (get("mender_boot_part"), get("upgrade_available"))
    }

    /// Restarts the service (partition `running` still runs) and checks the invariants.
    fn restart_and_check(&self, running: u32, what: &str) -> State {
        let mut d = Daemon::start(self.root(), "", self.env(running));
        let status = d.status();
        assert_eq!(d.stop(), 0, "{what}: {}", d.log_text());
        let check = &status["last_boot_check"];
        assert_ne!(check["result"], "error", "{what}: {status}");
        let (part, armed) = self.vars();
        let pending = status["pending"]["artifact_name"]
            .as_str()
            .map(str::to_owned);
        let installed = status["artifact_name"].as_str().map(str::to_owned);
        let state = match (
            part.as_str(),
            armed.as_str(),
            pending.as_deref(),
            installed.as_deref(),
        ) {
            ("2", "0", None, None) => State::Old,
            ("3", "1", Some("rootfs-rsa"), None) => State::Waiting,
            ("3", "0", None, Some("rootfs-rsa")) => State::Committed,
            _ => panic!(
                "{what}: inconsistent: mender_boot_part={part} upgrade_available={armed} \
                 pending={pending:?} installed={installed:?}"
            ),
        };
        // The new image is on partition 3 whenever the boot variables point there.
        if state != State::Old {
            let image =
                std::fs::read(crate::fixtures::vectors_dir().join("mender_test.img")).unwrap();
            let written = std::fs::read(self.part(3)).unwrap();
            assert_eq!(&written[..image.len()], &image[..], "{what}");
        }
        state
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Old,
    Waiting,
    Committed,
}

/// Where to kill: the `when`-th call of `syscall`, counting only calls on `path` (relative
/// to the device root, or absolute). strace matches `-P` paths that exist when it starts, so
/// the device is prepared with those files in place.
struct Point {
    syscall: &'static str,
    path: &'static str,
    when: u32,
    /// Who makes the call: artifact-gate itself (it dies, like a power cut), or the
    /// `fw_setenv` it runs (that dies mid-write; artifact-gate must notice and report it).
    victim: Victim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Us,
    FwSetenv,
}

const fn at(syscall: &'static str, path: &'static str, when: u32) -> Point {
    Point {
        syscall,
        path,
        when,
        victim: Victim::Us,
    }
}

const fn tool(syscall: &'static str, path: &'static str, when: u32) -> Point {
    Point {
        syscall,
        path,
        when,
        victim: Victim::FwSetenv,
    }
}

impl Point {
    fn describe(&self, command: &str) -> String {
        format!(
            "{command} with {:?} killed at {}#{} on {}",
            self.victim, self.syscall, self.when, self.path
        )
    }
}

const PENDING: &str = "var/artifact-gate/pending-install.json";
const PENDING_TMP: &str = "var/artifact-gate/.pending-install.json.tmp";
const PROVIDES_TMP: &str = "var/artifact-gate/.provides.json.tmp";

fn artifact() -> String {
    fx().path("rootfs-rsa.mender").display().to_string()
}

/// Kills `install` at each point; after the restart the old system runs, or the update waits.
#[test]
fn install_killed_at_each_point_leaves_a_consistent_device() {
    let points = [
        // Listing the Download_Enter scripts: before any payload byte moves.
        at("openat", "var/scripts", 1),
        // Writing the new partition.
        at("openat", "dev/rootfs-p3", 1),
        at("write", "dev/rootfs-p3", 1),
        at("write", "dev/rootfs-p3", 2),
        at("write", "dev/rootfs-p3", 3),
        at("fsync", "dev/rootfs-p3", 1),
        // Replacing the artifact's scripts, once the whole artifact verified.
        at("openat", "var/scripts", 3),
        // Recording the pending install: before the file, before its fsync, and between the
        // write and the rename.
        at("openat", PENDING_TMP, 1),
        at("fsync", PENDING_TMP, 1),
        at("rename", PENDING_TMP, 1),
        // Listing the ArtifactInstall scripts: just before the boot switch (Enter), and just
        // after it (Leave).
        at("openat", "var/scripts", 4),
        at("openat", "var/scripts", 5),
        // The boot switch itself: fw_setenv dies before it runs, mid-write, before its fsync.
        tool("execve", "/usr/bin/fw_setenv", 1),
        tool("write", "boot/env1", 1),
        tool("fsync", "boot/env1", 1),
    ];
    let mut seen = Vec::new();
    for p in &points {
        let what = p.describe("install");
        let d = Device::new();
        assert!(
            d.run_killed(2, &["install", &artifact()], p),
            "{what}: never reached"
        );
        let state = d.restart_and_check(2, &what);
        assert_ne!(
            state,
            State::Committed,
            "{what}: nothing may commit before a reboot"
        );
        seen.push(state);
    }
    // The points span the switch: before it the old system stays, after it the update waits.
    assert!(
        seen.contains(&State::Old) && seen.contains(&State::Waiting),
        "{seen:?}"
    );
}

/// Kills `commit` (after the reboot into partition 3) at each point; after the restart the
/// update is committed: a commit cut short is finished, or redone, by the restart.
#[test]
fn commit_killed_at_each_point_ends_committed_after_the_restart() {
    let points = [
        // Listing the ArtifactCommit_Enter scripts: before anything changes.
        at("openat", "var/scripts", 1),
        at("openat", PROVIDES_TMP, 1),
        at("fsync", PROVIDES_TMP, 1),
        at("rename", PROVIDES_TMP, 1),
        at("unlink", PENDING, 1),
        tool("execve", "/usr/bin/fw_setenv", 1),
        tool("write", "boot/env2", 1),
    ];
    for p in &points {
        let what = p.describe("commit");
        let d = Device::new();
        d.run_ok(2, &["install", &artifact()]);
        assert!(d.run_killed(3, &["commit"], p), "{what}: never reached");
        assert_eq!(d.restart_and_check(3, &what), State::Committed, "{what}");
    }
}

/// Kills `rollback` (before any reboot) at each point; after the restart the old system runs,
/// or, where the rollback never changed the variables, the update still waits.
#[test]
fn rollback_killed_at_each_point_ends_on_the_old_system_after_the_restart() {
    let points = [
        // Listing the ArtifactRollback_Enter scripts: before anything changes.
        at("openat", "var/scripts", 1),
        at("unlink", PENDING, 1),
        tool("execve", "/usr/bin/fw_setenv", 1),
        tool("write", "boot/env2", 1),
        tool("fsync", "boot/env2", 1),
    ];
    for p in &points {
        let what = p.describe("rollback");
        let d = Device::new();
        d.run_ok(2, &["install", &artifact()]);
        assert!(d.run_killed(2, &["rollback"], p), "{what}: never reached");
        let state = d.restart_and_check(2, &what);
        assert!(
            matches!(state, State::Old | State::Waiting),
            "{what}: {state:?}"
        );
    }
}

/// The daemon killed mid-install, then started again: the same invariants.
#[test]
fn the_daemon_killed_mid_install_restarts_into_a_consistent_device() {
    for p in [
        at("write", "dev/rootfs-p3", 2),
        at("rename", PENDING_TMP, 1),
        at("openat", "var/scripts", 5),
    ] {
        let what = p.describe("daemon");
        let d = Device::new();
        d.prepare();
        let socket = d.root().join("run/api.sock");
        let config = d.root().join("gate.toml");
        std::fs::write(
            &config,
            format!("[api]\nsocket = \"{}\"\n", socket.display()),
        )
        .unwrap();
        let mut command = Command::new("strace");
        command.args(["-f", "-qq", "-o", "/dev/null", "-P"]);
        command.arg(d.root().join(p.path));
        let mut daemon = command
            .arg("-e")
            .arg(format!("trace={}", p.syscall))
            .arg("-e")
            .arg(format!("inject={}:signal=KILL:when={}", p.syscall, p.when))
            .arg(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(["daemon", "--config-file"])
            .arg(&config)
            .envs(d.env(2))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        crate::daemon::wait_for_socket(&socket, &mut daemon, &|| format!("{what} (under strace)"));
        let _ = Command::new("curl")
            .args(["-sS", "--unix-socket"])
            .arg(&socket)
            .args(["-T", &artifact(), "http://localhost/v1/install"])
            .output()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let status = loop {
            if let Some(status) = daemon.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = daemon.kill();
                let _ = Command::new("pkill")
                    .args(["-9", "-f", &config.display().to_string()])
                    .status();
                panic!("{what}: never reached (the daemon lives on)");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert!(
            status.signal() == Some(9) || status.code() == Some(137),
            "{what}: never reached ({status})"
        );
        // A killed daemon leaves its socket behind; the restart replaces it.
        let state = d.restart_and_check(2, &what);
        assert_ne!(state, State::Committed, "{what}");
    }
}
