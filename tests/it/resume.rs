//! `install https://…` over links that drop, stall or serve a file that changes: nginx serves
//! a real artifact, the tests' proxy cuts or stalls the connection at chosen offsets, and the
//! download resumes with `Range`/`If-Range` into one continuous verified stream.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::fixtures::{Scratch, app_artifact, app_target};
use crate::web::{CertKind, Fault, Nginx, Proxy, device, payload};

/// The access log's status codes for `uri`.
pub(crate) fn statuses(nginx: &Nginx, uri: &str) -> Vec<u16> {
    nginx
        .log()
        .iter()
        .filter(|l| l.split(' ').nth(1) == Some(uri))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn cut_connections_resume_into_one_verified_stream() {
    let web = Scratch::new();
    let (nginx, trust) = Nginx::start(web.root(), CertKind::CaIssued);
    let content = payload(1);
    let build = Scratch::new();
    let art = app_artifact(&build, "resumed", &content, &[]);
    nginx.publish("art.mender", &art);
    let size = std::fs::metadata(&art).unwrap().len();
    // Offsets in bytes from the server (TLS included): inside the header, mid-payload, and
    // just before the end.
    for (i, cut) in [6_000, size / 2, size - 200].into_iter().enumerate() {
        let s = device(&trust, "stall_seconds = 5");
        let before = nginx.body_bytes("/art.mender");
        let proxy = Proxy::start(nginx.port, vec![Fault::CutAt(cut)]);
        let _ = std::fs::remove_dir_all(build.root().join("target"));
        let v = s.run(&["install", &proxy.url("art.mender")]);
        assert_eq!(v.code, 0, "cut at {cut}: {}", v.stderr);
        assert!(
            app_target(&build) == Some(content.clone()),
            "cut {i}: not installed"
        );
        assert!(
            v.stderr.contains("download complete after 1 resume"),
            "cut at {cut}: {}",
            v.stderr
        );
        assert_eq!(proxy.connections.load(Ordering::SeqCst), 2, "cut at {cut}");
        let passed = proxy.passed.load(Ordering::SeqCst);
        // One artifact plus TLS (two handshakes, record framing): never a second copy.
        assert!(
            passed >= size && passed < size + size / 50 + 16 * 1024,
            "cut at {cut}: the proxy passed {passed} bytes of a {size}-byte artifact"
        );
        let sent = nginx.body_bytes("/art.mender") - before;
        assert!(
            sent >= size,
            "nginx sent {sent} bytes for a {size}-byte artifact"
        );
        assert_eq!(
            statuses(&nginx, "/art.mender")
                .iter()
                .rev()
                .take(2)
                .collect::<Vec<_>>(),
            vec![&206, &200],
            "{:?}",
            nginx.log()
        );
        let range = nginx.log().last().cloned().unwrap_or_default();
        assert!(
            range.contains("\"bytes=") && range.contains("\"\\x22"),
            "the resume asks for the rest with If-Range: {range}"
        );
    }
}

#[test]
fn a_stalled_server_times_out_and_the_download_resumes() {
    let web = Scratch::new();
    let (nginx, trust) = Nginx::start(web.root(), CertKind::CaIssued);
    let content = payload(2);
    let build = Scratch::new();
    nginx.publish(
        "art.mender",
        &app_artifact(&build, "stalled", &content, &[]),
    );
    let s = device(&trust, "stall_seconds = 1");
    let proxy = Proxy::start(
        nginx.port,
        vec![Fault::StallAt(300_000, Duration::from_secs(20))],
    );
    let started = Instant::now();
    let v = s.run(&["install", &proxy.url("art.mender")]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stall was waited out instead of timed out"
    );
    assert!(
        v.stderr.contains("download complete after 1 resume"),
        "{}",
        v.stderr
    );
    assert!(app_target(&build) == Some(content), "not installed");
    assert_eq!(statuses(&nginx, "/art.mender").last(), Some(&206));
}

#[test]
fn a_file_replaced_mid_download_stops_without_splicing_and_installs_nothing() {
    let web = Scratch::new();
    let (nginx, trust) = Nginx::start(web.root(), CertKind::CaIssued);
    let build = Scratch::new();
    let old = payload(3);
    nginx.publish("art.mender", &app_artifact(&build, "old", &old, &[]));
    // Another size too: nginx's validators are the file's size and mtime in whole seconds.
    let new_art = app_artifact(&build, "new", &(payload(4) + "release 2\n"), &[]);
    let s = device(&trust, "stall_seconds = 1");
    let proxy = Proxy::start(
        nginx.port,
        vec![Fault::StallAt(300_000, Duration::from_secs(3))],
    );
    let child = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["install", &proxy.url("art.mender")])
        .envs(crate::daemon::env_of(&s))
        .env(
            "ARTIFACT_GATE_CONFIG",
            s.root().join("etc/artifact-gate.toml"),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.passed.load(Ordering::SeqCst) < 300_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A new release is deployed while the device's connection hangs.
    nginx.publish("art.mender", &new_art);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // `install` exits as `mender install` does: 1 for any failure.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the file changed on the server during the download")
            && stderr.contains("(200)"),
        "{stderr}"
    );
    crate::fixtures::assert_operator_words(&stderr);
    assert!(app_target(&build).is_none(), "nothing may be installed");
    assert!(
        !s.root()
            .join("var/artifact-gate/pending-install.json")
            .exists()
    );
    // The resume asked for the rest of the old version; nginx answered with the whole new one,
    // which was refused rather than spliced on.
    let last = nginx.log().last().cloned().unwrap_or_default();
    assert!(last.starts_with("200 /art.mender \"bytes="), "{last}");
}

#[test]
fn exhausted_retries_fail_cleanly() {
    let web = Scratch::new();
    let (nginx, trust) = Nginx::start(web.root(), CertKind::CaIssued);
    let build = Scratch::new();
    nginx.publish(
        "art.mender",
        &app_artifact(&build, "flaky", &payload(5), &[]),
    );
    let s = device(&trust, "stall_seconds = 1\nretries = 2");
    // The first connection breaks mid-payload; every later one inside the TLS handshake.
    let mut faults = vec![Fault::CutAt(300_000)];
    faults.extend([Fault::CutAt(300); 10]);
    let proxy = Proxy::start(nginx.port, faults);
    let v = s.run(&["install", &proxy.url("art.mender")]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(
        v.stderr.contains("gave up at byte") && v.stderr.contains("2 retries in a row"),
        "{}",
        v.stderr
    );
    assert!(!v.stderr.contains("gave up at byte 0"), "{}", v.stderr);
    crate::fixtures::assert_operator_words(&v.stderr);
    assert!(app_target(&build).is_none());
    assert!(
        !s.root()
            .join("var/artifact-gate/pending-install.json")
            .exists()
    );
    // The first connection and the two retries, no more.
    assert_eq!(proxy.connections.load(Ordering::SeqCst), 3);
}
