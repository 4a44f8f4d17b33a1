//! Time-of-check/time-of-use and endless input (issue #6): the artifact is read exactly once,
//! as a stream, so what was verified is what gets installed, and input without end stops at
//! the configured limit.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::fixtures::{Art, Scratch};

fn device() -> Scratch {
    crate::fixtures::module_device()
}

/// An uncompressed signed single-file artifact's bytes (see [`crate::fixtures::app_artifact`]).
fn app_artifact(s: &Scratch, name: &str, content: &str) -> Vec<u8> {
    std::fs::read(crate::fixtures::app_artifact(
        s,
        name,
        content,
        &["--compression", "none"],
    ))
    .unwrap()
}

fn target(s: &Scratch) -> Option<String> {
    crate::fixtures::app_target(s)
}

#[test]
fn an_artifact_readable_only_once_installs_proving_a_single_pass() {
    // A FIFO can be read exactly once: an installer that checked first and read again to
    // install would find it empty the second time.
    let s = device();
    let bytes = app_artifact(&s, "app-1", "read once\n");
    let fifo = s.root().join("artifact.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            f.write_all(&bytes).unwrap();
        })
    };
    let v = s.run(&["install", "--no-daemon", fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(target(&s).as_deref(), Some("read once\n"));
}

#[test]
fn a_file_replaced_after_validation_is_checked_again_and_refused() {
    let s = device();
    let path = s.root().join("update.mender");
    std::fs::write(&path, app_artifact(&s, "app-1", "genuine\n")).unwrap();
    let v = s.run(&["validate", path.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // Between the check and the install, someone swaps in a tampered copy.
    let mut art = Art {
        members: crate::fixtures::untar(&std::fs::read(&path).unwrap()),
    };
    let mut files = crate::fixtures::untar(art.get("data/0000.tar"));
    let app = files.iter_mut().find(|m| m.name == "app.conf").unwrap();
    app.data = b"evil\n\n\n".to_vec();
    art.set(
        "data/0000.tar",
        crate::fixtures::tar(&files, crate::fixtures::Dialect::Ustar),
    );
    std::fs::write(&path, art.bytes()).unwrap();
    let v = s.run(&["install", "--no-daemon", path.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("checksum mismatch for 'data/0000/app.conf'"),
        "{}",
        v.stderr
    );
    assert_eq!(target(&s), None, "nothing may be installed");
}

#[test]
fn endless_input_stops_at_the_artifact_limit() {
    // A genuine artifact followed by zeros without end (zeros are the one thing allowed after
    // the end marker): the daemon's max_artifact_bytes (256 KiB here, below the 1 MiB padding
    // cap) ends the read.
    let s = device();
    let bytes = app_artifact(&s, "app-1", "endless\n");
    let d = crate::daemon::Daemon::start(
        s.root(),
        "[limits]\nmax_artifact_bytes = 262144\n",
        crate::daemon::env_of(&s),
    );
    let socket = d.socket.clone();
    // curl reads the endless stream from a pipe and sends it chunked (no Content-Length).
    let mut curl = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&socket)
        .args(["-T", "-", "http://localhost/v1/install"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = curl.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
        let zeros = vec![0u8; 64 * 1024];
        // Up to 64 MiB: far past the limit; the daemon must stop long before.
        for _ in 0..1024 {
            if stdin.write_all(&zeros).is_err() {
                break;
            }
        }
    });
    let out = curl.wait_with_output().unwrap();
    let _ = feeder.join();
    drop(d);
    let body = String::from_utf8_lossy(&out.stdout);
    let last = body.lines().last().unwrap_or_default();
    assert!(last.contains("\"event\":\"error\""), "{body}");
    assert!(last.contains("262144"), "the limit is named: {last}");
    assert_eq!(target(&s), None, "nothing may be installed");
}
