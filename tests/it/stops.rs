//! Mender 5's `--stop-before STATE` and `resume` (issue #16 item 7), with mender-update's
//! words and exit codes: through the real single-file Update Module and the built-in A/B
//! installer, with device state scripts that record when they run.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use crate::daemon::{Daemon, env_of};
use crate::device::{Device, PART};
use crate::fixtures::{Scratch, app_artifact, app_target, gate, module_device};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(s: &Scratch, args: &[&str]) -> Output {
    gate(args, s.root())
}

/// Device state scripts for `states` that append their own name to `<root>/states.log`.
fn recording_scripts(s: &Scratch, states: &[&str]) {
    for state in states {
        let script = format!(
            "#!/bin/sh\necho {state} >> \"{}\"\n",
            s.root().join("states.log").display()
        );
        let path = s.write(&format!("etc/scripts/{state}_00"), script.as_bytes());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn states_run(s: &Scratch) -> String {
    std::fs::read_to_string(s.root().join("states.log")).unwrap_or_default()
}

#[test]
fn stop_before_artifact_install_then_resume_installs_then_commits() {
    let s = module_device();
    recording_scripts(&s, &["ArtifactInstall_Enter", "ArtifactCommit_Enter"]);
    let art = app_artifact(&s, "release-1", "one\n", &[]);
    let art = art.to_str().unwrap();
    let out = run(
        &s,
        &["install", "--stop-before", "ArtifactInstall_Enter", art],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Streamed to storage, but not installed/enabled."),
        "{}",
        text(&out)
    );
    assert_eq!(
        app_target(&s),
        None,
        "installed although stopped before ArtifactInstall"
    );
    assert_eq!(states_run(&s), "");
    // It is in progress: another install, and a commit, are refused with the way on.
    let out = run(&s, &["install", "--no-daemon", art]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&s, &["commit"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("stopped before ArtifactInstall_Enter; 'artifact-gate resume'"),
        "{}",
        text(&out)
    );
    // The same stop again is a no-op that stops at the same point.
    let out = run(&s, &["resume", "--stop-before", "ArtifactInstall_Enter"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Streamed to storage"), "{}", text(&out));
    assert_eq!(app_target(&s), None);
    // resume: ArtifactInstall; single-file supports rollback, so it waits for the commit.
    let out = run(&s, &["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Installed, but not committed."),
        "{}",
        text(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("one\n"));
    assert_eq!(states_run(&s), "ArtifactInstall_Enter\n");
    // resume again commits, as mender-update's resume does.
    let out = run(&s, &["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Installed and committed."),
        "{}",
        text(&out)
    );
    assert_eq!(run(&s, &["show-artifact"]).stdout, b"release-1\n");
    assert_eq!(
        states_run(&s),
        "ArtifactInstall_Enter\nArtifactCommit_Enter\n"
    );
    // Nothing in progress: exit 2.
    let out = run(&s, &["resume"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("No update in progress."),
        "{}",
        text(&out)
    );
}

#[test]
fn a_commit_stopped_before_its_leave_scripts_has_committed_and_resume_finishes_it() {
    let s = module_device();
    recording_scripts(&s, &["ArtifactCommit_Enter", "ArtifactCommit_Leave"]);
    let art = app_artifact(&s, "release-2", "two\n", &[]);
    assert!(
        run(&s, &["install", "--no-daemon", art.to_str().unwrap()])
            .status
            .success()
    );
    let out = run(&s, &["commit", "--stop-before", "ArtifactCommit_Leave"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Stopped before ArtifactCommit_Leave"),
        "{}",
        text(&out)
    );
    assert_eq!(run(&s, &["show-artifact"]).stdout, b"release-2\n");
    assert_eq!(states_run(&s), "ArtifactCommit_Enter\n");
    let out = run(&s, &["resume", "--stop-before", "Cleanup"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Stopped before Cleanup"),
        "{}",
        text(&out)
    );
    assert_eq!(
        states_run(&s),
        "ArtifactCommit_Enter\nArtifactCommit_Leave\n"
    );
    let out = run(&s, &["resume"]);
    assert!(
        text(&out).contains("Installed and committed."),
        "{}",
        text(&out)
    );
    assert_eq!(run(&s, &["resume"]).status.code(), Some(2));
}

#[test]
fn a_rollback_can_stop_before_artifact_failure() {
    let s = module_device();
    recording_scripts(&s, &["ArtifactRollback_Enter", "ArtifactFailure_Enter"]);
    let first = app_artifact(&s, "release-1", "one\n", &[]);
    assert!(
        run(&s, &["install", "--no-daemon", first.to_str().unwrap()])
            .status
            .success()
    );
    assert!(run(&s, &["commit"]).status.success());
    let second = app_artifact(&s, "release-2", "two\n", &[]);
    assert!(
        run(&s, &["install", "--no-daemon", second.to_str().unwrap()])
            .status
            .success()
    );
    let out = run(&s, &["rollback", "--stop-before", "ArtifactFailure_Enter"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Stopped before ArtifactFailure_Enter"),
        "{}",
        text(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("one\n"), "the rollback ran");
    assert_eq!(states_run(&s), "ArtifactRollback_Enter\n");
    let out = run(&s, &["resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Rolled back."), "{}", text(&out));
    assert_eq!(
        states_run(&s),
        "ArtifactRollback_Enter\nArtifactFailure_Enter\n"
    );
    assert_eq!(run(&s, &["show-artifact"]).stdout, b"release-1\n");
}

#[test]
fn an_unknown_state_is_a_usage_error_naming_the_choices() {
    let s = module_device();
    let out = run(
        &s,
        &["install", "--stop-before", "ArtifactInstall", "x.mender"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("choose one of ArtifactInstall_Enter, ArtifactCommit_Enter"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_ab_install_stopped_before_artifact_install_switches_boot_only_on_resume() {
    let d = Device::new(PART);
    let art = crate::fixtures::fx().path("rootfs-rsa.mender");
    let v = d.run(&[
        "install",
        "--stop-before",
        "ArtifactInstall_Enter",
        art.to_str().unwrap(),
    ]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("Streamed to storage"), "{}", v.stdout);
    assert_eq!(
        d.boot_vars(),
        (Some("2".into()), Some("0".into())),
        "the boot switched"
    );
    // The written slot is changed while the install waits: resume reads it back and refuses.
    let slot = d.part_path(3);
    let good = std::fs::read(&slot).unwrap();
    let mut bad = good.clone();
    bad[4096] ^= 1;
    std::fs::write(&slot, &bad).unwrap();
    let v = d.run(&["resume"]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert!(v.stderr.contains("reads back with SHA-256"), "{}", v.stderr);
    assert_eq!(
        d.boot_vars(),
        (Some("2".into()), Some("0".into())),
        "the boot switched"
    );
    // A second try with the slot as verified: installs, reboot needed (exit 4 when asked).
    let d = Device::new(PART);
    assert_eq!(
        d.run(&[
            "install",
            "--stop-before",
            "ArtifactInstall_Enter",
            art.to_str().unwrap()
        ])
        .code,
        0
    );
    let v = d.run(&["resume", "--reboot-exit-code"]);
    assert_eq!(v.code, 4, "{}{}", v.stdout, v.stderr);
    assert!(
        v.stdout.contains("Installed, but not committed."),
        "{}",
        v.stdout
    );
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("1".into())));
}

#[test]
fn the_daemon_leaves_a_stopped_install_alone_at_start() {
    let s = module_device();
    let art = app_artifact(&s, "release-3", "three\n", &[]);
    let out = run(
        &s,
        &[
            "install",
            "--no-daemon",
            "--stop-before",
            "ArtifactInstall_Enter",
            art.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A start after a reboot: the daemon neither installs nor drops what waits for resume.
    let mut daemon = Daemon::start(s.root(), "", env_of(&s));
    let status = daemon.status();
    assert_eq!(
        status["last_boot_check"]["result"], "stopped, waiting for resume",
        "{status}"
    );
    assert_eq!(status["last_boot_check"]["artifact_name"], "release-3");
    assert_eq!(app_target(&s), None, "installed at the daemon's start");
    daemon.stop();
    let out = run(&s, &["resume"]);
    assert!(
        text(&out).contains("Installed, but not committed."),
        "{}",
        text(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("three\n"));
}
