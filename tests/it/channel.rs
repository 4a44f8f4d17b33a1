//! The daemon's update channel against nginx: an update end to end, a `304` for an unchanged
//! channel, a wrong-device artifact and a release below the downgrade floor skipped after their
//! head only, a tampered artifact refused once and not fetched again, a file replaced
//! mid-download, and retries that run out.

use std::time::{Duration, Instant};

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{Scratch, app_artifact, app_target, gate};
use crate::resume::statuses;
use crate::web::{CertKind, Fault, Nginx, Proxy, device, payload};

const URI: &str = "/beaglebone/latest.mender";

fn channel_toml(base: &str, download: &str) -> String {
    format!(
        "[channel]\nurl = \"{base}/{{device_type}}/latest.mender\"\npoll_seconds = 1\n\
         [download]\n{download}\n"
    )
}

/// Waits until the channel's last result is `result` (and `also` holds for the status).
fn wait_for(
    daemon: &Daemon,
    result: &str,
    also: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = daemon.status();
        if status["channel"]["last_result"]["result"] == result && also(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "no '{result}' result; last status {status}\nlog:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(web: &Scratch) -> (Nginx, std::path::PathBuf) {
    let (nginx, trust) = Nginx::start(web.root(), CertKind::SelfSignedCa);
    std::fs::create_dir_all(nginx.www.join("beaglebone")).unwrap();
    (nginx, trust)
}

/// A device polling `nginx` through a proxy that lets the head pass and stalls the download
/// half-way, long enough to deploy another release; returns once the stall began.
fn stalled_half_way(nginx: &Nginx, trust: &std::path::Path) -> (Scratch, Proxy, Daemon) {
    let proxy = Proxy::start(
        nginx.port,
        vec![Fault::None, Fault::StallAt(300_000, Duration::from_secs(3))],
    );
    let s = device(trust, "");
    let toml = channel_toml(
        &format!("https://127.0.0.1:{}", proxy.port),
        "stall_seconds = 1",
    );
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.passed.load(std::sync::atomic::Ordering::SeqCst) < 300_000 {
        assert!(Instant::now() < deadline, "{}", daemon.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    (s, proxy, daemon)
}

#[test]
fn an_update_is_installed_from_the_channel_and_an_unchanged_channel_costs_a_304() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let content = payload(10);
    nginx.publish(
        "beaglebone/latest.mender",
        &app_artifact(&build, "chan-1", &content, &[]),
    );
    let s = device(&trust, "");
    let toml = channel_toml(&format!("https://127.0.0.1:{}", nginx.port), "");
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    let status = wait_for(&daemon, "installed", |_| true);
    assert_eq!(status["channel"]["last_result"]["artifact_name"], "chan-1");
    assert!(app_target(&build) == Some(content), "not installed");
    assert_eq!(status["artifact_name"], "chan-1", "{status}");
    let status = wait_for(&daemon, "unchanged", |_| true);
    for key in ["last_check", "next_check"] {
        let time = status["channel"][key].as_str().unwrap_or_default();
        assert!(time.len() == 20 && time.ends_with('Z'), "{key}: {status}");
    }
    assert_eq!(
        status["channel"]["url"],
        format!("https://127.0.0.1:{}{URI}", nginx.port)
    );
    let seen = statuses(&nginx, URI);
    // The head (206), the download (200), then only 304s.
    assert_eq!(&seen[..2], &[206, 200], "{:?}", nginx.log());
    assert!(
        seen[2..].iter().all(|s| *s == 304) && seen.len() > 2,
        "{seen:?}"
    );
}

#[test]
fn a_wrong_device_artifact_is_skipped_after_reading_only_its_head() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let art = app_artifact(&build, "for-beaglebone", &payload(11), &[]);
    std::fs::create_dir_all(nginx.www.join("qemux86")).unwrap();
    nginx.publish("qemux86/latest.mender", &art);
    let s = device(&trust, "");
    s.write("var/device_type", b"device_type=qemux86\n");
    let toml = channel_toml(&format!("https://127.0.0.1:{}", nginx.port), "");
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    let status = wait_for(&daemon, "skipped", |_| true);
    let detail = status["channel"]["last_result"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("qemux86"), "{status}");
    wait_for(&daemon, "unchanged", |s| {
        s["channel"]["last_result"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("skipped"))
    });
    assert!(app_target(&build).is_none());
    let uri = "/qemux86/latest.mender";
    let seen = statuses(&nginx, uri);
    assert_eq!(seen[0], 206, "{:?}", nginx.log());
    assert!(seen[1..].iter().all(|s| *s == 304), "{seen:?}");
    let size = std::fs::metadata(&art).unwrap().len();
    let sent = nginx.body_bytes(uri);
    assert!(
        sent <= 64 * 1024 && sent < size / 4,
        "nginx sent {sent} bytes of a {size}-byte artifact to decide"
    );
}

#[test]
fn a_release_below_the_downgrade_floor_is_skipped_after_reading_only_its_head() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let s = device(&trust, "");
    let policy = "[policy]\nversion_provide = \"rootfs-image.single-file.version\"\n";
    s.write("etc/artifact-gate.toml", policy.as_bytes());
    // The device runs 2.0.0, installed and committed on the command line.
    let newer_content = payload(13);
    let newer = app_artifact(
        &build,
        "rel-2",
        &newer_content,
        &["--software-version", "2.0.0"],
    );
    let install = gate(
        &["install", "--no-daemon", newer.to_str().unwrap()],
        s.root(),
    );
    assert!(install.status.success(), "{install:?}");
    assert!(gate(&["commit"], s.root()).status.success());
    // The channel still serves the older, equally signed release.
    let older = app_artifact(
        &build,
        "rel-1",
        &payload(14),
        &["--software-version", "1.0.0"],
    );
    nginx.publish("beaglebone/latest.mender", &older);
    let toml = format!(
        "{}{policy}",
        channel_toml(&format!("https://127.0.0.1:{}", nginx.port), "")
    );
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    let status = wait_for(&daemon, "skipped", |_| true);
    let detail = status["channel"]["last_result"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("downgrade from 2.0.0 to 1.0.0"), "{status}");
    assert_eq!(status["artifact_name"], "rel-2", "{status}");
    assert_eq!(
        app_target(&build),
        Some(newer_content),
        "the older installed"
    );
    // Only its head was read: one ranged request, never the whole file.
    let seen = statuses(&nginx, URI);
    assert_eq!(seen[0], 206, "{:?}", nginx.log());
    assert!(!seen.contains(&200), "{seen:?}");
    let size = std::fs::metadata(&older).unwrap().len();
    let sent = nginx.body_bytes(URI);
    assert!(
        sent <= 64 * 1024 && sent < size / 4,
        "nginx sent {sent} bytes of a {size}-byte artifact to decide"
    );
}

#[test]
fn a_tampered_artifact_is_refused_once_and_not_fetched_again() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let art = app_artifact(&build, "tampered", &payload(12), &["--compression", "none"]);
    let mut bytes = std::fs::read(&art).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&art, &bytes).unwrap();
    nginx.publish("beaglebone/latest.mender", &art);
    let s = device(&trust, "");
    let toml = channel_toml(&format!("https://127.0.0.1:{}", nginx.port), "");
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    let status = wait_for(&daemon, "rejected", |_| true);
    let detail = status["channel"]["last_result"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("checksum") || detail.contains("sha256"),
        "{status}"
    );
    wait_for(&daemon, "unchanged", |_| true);
    // A few more polls: still only 304s.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        app_target(&build).is_none(),
        "a tampered artifact installed"
    );
    let seen = statuses(&nginx, URI);
    assert_eq!(seen.iter().filter(|s| **s == 200).count(), 1, "{seen:?}");
    assert!(
        seen[2..].iter().all(|s| *s == 304) && seen.len() >= 4,
        "{seen:?}"
    );
}

#[test]
fn a_file_replaced_mid_download_fails_cleanly_and_the_next_poll_installs_the_new_one() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let old = app_artifact(&build, "old", &payload(13), &[]);
    // Another size too: nginx's validators are the file's size and mtime in whole seconds,
    // and both releases are published within a second or two.
    let new_content = payload(14) + "release 2\n";
    let new = app_artifact(&build, "new", &new_content, &[]);
    nginx.publish("beaglebone/latest.mender", &old);
    let (_device, _proxy, daemon) = stalled_half_way(&nginx, &trust);
    nginx.publish("beaglebone/latest.mender", &new);
    let status = wait_for(&daemon, "installed", |_| true);
    assert_eq!(status["channel"]["last_result"]["artifact_name"], "new");
    assert!(
        app_target(&build) == Some(new_content),
        "the new release is not installed"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("the file changed on the server during the download"),
        "{log}"
    );
    assert!(log.contains("artifact_changed (interrupted)"), "{log}");
}

#[test]
fn exhausted_retries_fail_cleanly_and_the_daemon_polls_again() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let content = payload(15);
    nginx.publish(
        "beaglebone/latest.mender",
        &app_artifact(&build, "later", &content, &[]),
    );
    // Poll 1: the head passes, the download breaks and its one retry dies in the handshake.
    // Poll 2: the head's connection dies too. Poll 3: the link is back.
    let proxy = Proxy::start(
        nginx.port,
        vec![
            Fault::None,
            Fault::CutAt(300_000),
            Fault::CutAt(300),
            Fault::CutAt(300),
        ],
    );
    let s = device(&trust, "");
    let toml = channel_toml(
        &format!("https://127.0.0.1:{}", proxy.port),
        "stall_seconds = 2\nretries = 1",
    );
    let daemon = Daemon::start(s.root(), &toml, env_of(&s));
    wait_for(&daemon, "installed", |_| true);
    assert!(app_target(&build) == Some(content), "not installed");
    let log = daemon.log_text();
    assert!(log.contains("gave up at byte"), "{log}");
    assert!(log.contains("download_gave_up (interrupted)"), "{log}");
    assert!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst) >= 6,
        "{log}"
    );
}

#[test]
fn a_replacement_the_server_cannot_tell_apart_is_refused_but_not_remembered() {
    let web = Scratch::new();
    let (nginx, trust) = serve(&web);
    let build = Scratch::new();
    let plain = ["--compression", "none"];
    let old = app_artifact(&build, "rel-a", &payload(16), &plain);
    let new_content = payload(17);
    let new = app_artifact(&build, "rel-b", &new_content, &plain);
    assert_eq!(
        std::fs::metadata(&old).unwrap().len(),
        std::fs::metadata(&new).unwrap().len(),
        "the two releases must have one size for nginx to mistake one for the other"
    );
    // Same size, same mtime: nginx gives both the same ETag and Last-Modified, so a resume
    // splices the new release's tail onto the old one's head.
    let mtime = std::time::SystemTime::now();
    nginx.publish_at("beaglebone/latest.mender", &old, mtime);
    let (_device, _proxy, daemon) = stalled_half_way(&nginx, &trust);
    nginx.publish_at("beaglebone/latest.mender", &new, mtime);
    // The verifier refuses the splice; the refusal is not remembered, so the next poll
    // downloads the file whole and installs it.
    let status = wait_for(&daemon, "installed", |_| true);
    assert_eq!(status["channel"]["last_result"]["artifact_name"], "rel-b");
    assert!(
        app_target(&build) == Some(new_content),
        "rel-b is not installed"
    );
    let log = daemon.log_text();
    assert!(log.contains("the refusal is not remembered"), "{log}");
    assert!(
        !log.contains("artifact=\"rel-a\" result=installed"),
        "{log}"
    );
}

#[test]
fn a_channel_with_an_unusable_server_certificate_stops_the_daemon_at_start() {
    let s = device(std::path::Path::new("/nonexistent/server.crt"), "");
    let config = s.write(
        "artifact-gate.toml",
        format!(
            "[api]\nsocket = \"{}\"\n{}",
            s.root().join("run/api.sock").display(),
            channel_toml("https://127.0.0.1:9", "")
        )
        .as_bytes(),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["daemon", "--config-file"])
        .arg(&config)
        .envs(env_of(&s))
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("update channel: ServerCertificate /nonexistent/server.crt"),
        "{stderr}"
    );
    crate::fixtures::assert_operator_words(&stderr);
    assert!(
        !s.root().join("run/api.sock").exists(),
        "it listened anyway"
    );
}
