//! A key list with broken entries (issue #12 item 7): the usable keys verify, and every broken
//! entry is named with its reason on every verdict, in `status --json`, in the daemon's start-up
//! log and its status; with no usable key it stays a configuration error; `check-config` gives
//! the strict answer.

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{Scratch, fx};

/// mender.conf listing `keys` in `ArtifactVerifyKeys`, and a device type.
fn device(keys: &[String]) -> Scratch {
    let s = Scratch::new();
    let conf = serde_json::json!({ "ArtifactVerifyKeys": keys });
    s.write("etc/mender.conf", conf.to_string().as_bytes());
    s.write("var/device_type", b"device_type=beaglebone\n");
    s
}

/// Upstream's parser test: a missing file, a private key, a good public key.
fn upstream_list(s: &Scratch) -> Vec<String> {
    vec![
        s.root().join("gone.pub").display().to_string(),
        fx().path("rsa.key").display().to_string(),
        fx().path("rsa.pub").display().to_string(),
    ]
}

fn assert_names_both(text: &str, s: &Scratch) {
    let gone = s.root().join("gone.pub");
    assert!(
        text.contains(&format!("cannot read verify key {}", gone.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "verify key {}: this is a private key",
            fx().path("rsa.key").display()
        )),
        "{text}"
    );
}

#[test]
fn the_usable_key_verifies_and_every_broken_entry_is_named() {
    let probe = Scratch::new();
    let s = device(&upstream_list(&probe));
    let art = fx().path("mod-rsa.mender");
    let v = s.run(&["validate", art.to_str().unwrap()]);
    v.valid();
    assert!(
        v.stdout.contains(&format!(
            "verified with key '{}'",
            fx().path("rsa.pub").display()
        )),
        "{}",
        v.stdout
    );
    assert_eq!(
        v.stderr.matches("warning: verify key not used:").count(),
        2,
        "{}",
        v.stderr
    );
    assert_names_both(&v.stderr, &probe);

    // Fewer trusted keys is never weaker verification: a signature by a key not listed (or by
    // the broken entries' keys) is still refused.
    let v = s.run(&["validate", fx().path("mod-ec.mender").to_str().unwrap()]);
    v.fails(1, "no configured key verifies the manifest signature");
    assert_names_both(&v.stderr, &probe);

    // `read` and `install` warn the same way.
    let v = s.run(&["read", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_names_both(&v.stderr, &probe);

    let status = s.run(&["status", "--json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let report: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let broken = report["broken_verify_keys"].as_array().unwrap();
    let entries: Vec<&str> = broken
        .iter()
        .map(|b| b["entry"].as_str().unwrap())
        .collect();
    assert_eq!(
        entries,
        [
            upstream_list(&probe)[0].as_str(),
            upstream_list(&probe)[1].as_str()
        ]
    );
    assert!(
        broken[1]["reason"]
            .as_str()
            .unwrap()
            .contains("this is a private key")
    );
    let text = s.run(&["status"]);
    assert_names_both(&text.stdout, &probe);
}

#[test]
fn with_no_usable_key_it_stays_a_configuration_error() {
    let probe = Scratch::new();
    let list = upstream_list(&probe)[..2].to_vec();
    let s = device(&list);
    let v = s.run(&["validate", fx().path("mod-rsa.mender").to_str().unwrap()]);
    v.fails(2, "none of the 2 configured verify keys can be used");
    assert_names_both(&v.stderr, &probe);
    // Never "no key configured", which --allow-unsigned would turn into unverified installs.
    let v = s.run(&[
        "validate",
        "--allow-unsigned",
        fx().path("mod-unsigned.mender").to_str().unwrap(),
    ]);
    v.fails(2, "none of the 2 configured verify keys can be used");
}

#[test]
fn check_config_is_strict_about_every_entry() {
    let probe = Scratch::new();
    let s = device(&upstream_list(&probe));
    let v = s.run(&["check-config"]);
    v.fails(2, "2 of the configured verify keys cannot be used");
    assert_names_both(&v.stderr, &probe);

    let good = device(&[fx().path("rsa.pub").display().to_string()]);
    let v = good.run(&["check-config"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(v.stdout.contains("verify keys: 1 usable"), "{}", v.stdout);
    assert!(v.stdout.contains("device type: beaglebone"), "{}", v.stdout);
    assert!(v.stdout.ends_with("configuration OK\n"), "{}", v.stdout);

    // A broken settings file is a configuration error too.
    good.write("etc/artifact-gate.toml", b"[nonsense]\n");
    good.run(&["check-config"]).fails(2, "nonsense");
}

#[test]
fn the_daemon_logs_broken_entries_at_start_and_reports_them_in_status() {
    let probe = Scratch::new();
    let s = device(&upstream_list(&probe));
    let mut d = Daemon::start(s.root(), "", env_of(&s));
    let log = d.log_text();
    assert_eq!(log.matches("verify key not used").count(), 2, "{log}");
    assert_names_both(&log, &probe);
    let status = d.status();
    let broken = status["broken_verify_keys"].as_array().unwrap();
    assert_eq!(broken.len(), 2, "{status}");
    assert_eq!(d.stop(), 0);
}
