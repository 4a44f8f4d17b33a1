//! Bootstrap artifacts (issue #12 item 8): `<datastore>/bootstrap.mender` is installed at the
//! first start (daemon) and before the first `install`, only when it verifies like any other
//! artifact; an unsigned one is refused while keys are configured, unless
//! `[update] accept_unsigned_bootstrap = true`, which accepts only an empty payload.

use std::process::Command;

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{Scratch, app_artifact, app_target, fx, module_device, run_ok};

/// A bootstrap artifact written by the real mender-artifact: signed by `key` when given.
fn bootstrap(s: &Scratch, name: &str, key: Option<&str>) -> Vec<u8> {
    let out = s.root().join(format!("{name}.mender"));
    let mut cmd = Command::new("mender-artifact");
    cmd.args([
        "write",
        "bootstrap-artifact",
        "-n",
        name,
        "-t",
        "beaglebone",
    ])
    .args([
        "-p",
        "rootfs-image.version:factory-1",
        "--compression",
        "none",
        "-o",
    ])
    .arg(&out);
    if let Some(key) = key {
        cmd.arg("-k").arg(fx().path(key));
    }
    run_ok(&mut cmd);
    std::fs::read(out).unwrap()
}

fn provides(s: &Scratch) -> String {
    s.run(&["show-provides"]).stdout
}

#[test]
fn a_signed_bootstrap_is_installed_before_the_first_install() {
    let s = module_device();
    let boot = s.write(
        "var/bootstrap.mender",
        &bootstrap(&s, "factory", Some("rsa.key")),
    );
    let app = app_artifact(&s, "app-1", "one\n", &[]);
    let v = s.run(&["install", app.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stderr
            .contains("the bootstrap artifact 'factory' is installed (first start)"),
        "{}",
        v.stderr
    );
    assert!(!boot.exists(), "an installed bootstrap artifact is removed");
    assert_eq!(app_target(&s).as_deref(), Some("one\n"));
    // The app waits for commit over the bootstrap's name (single-file supports rollback).
    assert_eq!(s.run(&["show-artifact"]).stdout, "factory\n");
    assert_eq!(s.run(&["commit"]).code, 0);
    assert_eq!(s.run(&["show-artifact"]).stdout, "app-1\n");
    // The bootstrap's provides stay (the app's type-info does not clear them).
    assert!(
        provides(&s).contains("rootfs-image.version=factory-1"),
        "{}",
        provides(&s)
    );

    // Not the first start any more: a new bootstrap file is left alone.
    let again = s.write(
        "var/bootstrap.mender",
        &bootstrap(&s, "again", Some("rsa.key")),
    );
    let app2 = app_artifact(&s, "app-2", "two\n", &[]);
    let v = s.run(&["install", app2.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(!v.stderr.contains("bootstrap"), "{}", v.stderr);
    assert!(again.exists());
}

#[test]
fn an_unsigned_or_wrongly_signed_bootstrap_is_refused_and_left_in_place() {
    for (key, why) in [
        (
            None,
            "the bootstrap artifact was refused and left in place: artifact is not signed \
             (no manifest.sig), but verification keys are configured; set [update] \
             accept_unsigned_bootstrap = true",
        ),
        (
            Some("rsa2.key"),
            "the bootstrap artifact was refused and left in place: no configured key verifies",
        ),
    ] {
        let s = module_device();
        let boot = s.write("var/bootstrap.mender", &bootstrap(&s, "factory", key));
        let app = app_artifact(&s, "app-1", "one\n", &[]);
        let v = s.run(&["install", app.to_str().unwrap()]);
        // The requested install still goes ahead; the bootstrap added nothing.
        assert_eq!(v.code, 0, "{}", v.stderr);
        assert!(v.stderr.contains(why), "expected {why:?} in {}", v.stderr);
        crate::fixtures::assert_operator_words(&v.stderr);
        assert!(
            boot.exists(),
            "a refused bootstrap artifact stays for the operator"
        );
        assert!(!provides(&s).contains("factory-1"), "{}", provides(&s));
        assert_eq!(s.run(&["commit"]).code, 0);
        assert_eq!(s.run(&["show-artifact"]).stdout, "app-1\n");
    }
}

#[test]
fn accept_unsigned_bootstrap_takes_only_an_empty_payload() {
    let s = module_device();
    s.write(
        "etc/artifact-gate.toml",
        b"[update]\naccept_unsigned_bootstrap = true\n",
    );
    // An unsigned module payload is refused even so.
    let boot = s.write("var/bootstrap.mender", &fx().bytes("mod-unsigned.mender"));
    let app = app_artifact(&s, "app-1", "one\n", &[]);
    let v = s.run(&["install", app.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stderr.contains(
            "it is unsigned and carries a 'single-file' payload; accept_unsigned_bootstrap \
             accepts only an empty payload"
        ),
        "{}",
        v.stderr
    );
    assert!(boot.exists());
    assert_eq!(s.run(&["commit"]).code, 0);
    assert_eq!(s.run(&["show-artifact"]).stdout, "app-1\n");

    // An unsigned empty payload is accepted on a fresh device.
    let s = module_device();
    s.write(
        "etc/artifact-gate.toml",
        b"[update]\naccept_unsigned_bootstrap = true\n",
    );
    let boot = s.write("var/bootstrap.mender", &bootstrap(&s, "factory", None));
    let app = app_artifact(&s, "app-1", "one\n", &[]);
    let v = s.run(&["install", app.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stderr.contains("'factory' is installed (first start)"),
        "{}",
        v.stderr
    );
    assert!(!boot.exists());
    assert!(
        provides(&s).contains("rootfs-image.version=factory-1"),
        "{}",
        provides(&s)
    );
}

#[test]
fn the_daemon_installs_a_signed_bootstrap_at_its_first_start() {
    let s = module_device();
    let boot = s.write(
        "var/bootstrap.mender",
        &bootstrap(&s, "factory", Some("rsa.key")),
    );
    let mut d = Daemon::start(s.root(), "", env_of(&s));
    // The boot check (and the bootstrap) run before the daemon reports ready; status waits
    // for the operation slot.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while d.status()["artifact_name"].is_null() {
        assert!(std::time::Instant::now() < deadline, "{}", d.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(d.status()["artifact_name"], "factory");
    assert!(!boot.exists());
    assert!(
        d.log_text()
            .contains("the bootstrap artifact 'factory' is installed (first start)"),
        "{}",
        d.log_text()
    );
    assert_eq!(d.stop(), 0);

    // An unsigned one on a fresh device: refused with a clear log line, nothing installed.
    let s = module_device();
    let boot = s.write("var/bootstrap.mender", &bootstrap(&s, "factory", None));
    let mut d = Daemon::start(s.root(), "", env_of(&s));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !d.log_text().contains("bootstrap artifact was refused") {
        assert!(std::time::Instant::now() < deadline, "{}", d.log_text());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        d.log_text().contains("accept_unsigned_bootstrap"),
        "{}",
        d.log_text()
    );
    assert!(d.status()["artifact_name"].is_null());
    assert!(boot.exists());
    assert_eq!(d.stop(), 0);
}
