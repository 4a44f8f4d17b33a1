//! `artifact-gate daemon` end to end: the real binary on a temporary socket, driven with curl
//! (and raw sockets where a client must misbehave), installing through Debian's single-file
//! module and the built-in A/B installer. Reboots are simulated by restarting the daemon with
//! the boot variables and the root device changed.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::device::{Device, PART};
use crate::fixtures::{Scratch, fx, module_device};

/// A running daemon and what it needs to be restarted.
pub(crate) struct Daemon {
    child: Option<Child>,
    pub(crate) socket: PathBuf,
    config: PathBuf,
    log: PathBuf,
    env: Vec<(String, OsString)>,
}

impl Daemon {
    /// Starts the daemon for the device at `root` with `env`; `toml` is added to its settings.
    pub(crate) fn start(root: &Path, toml: &str, env: Vec<(String, OsString)>) -> Self {
        let socket = root.join("run/api.sock");
        let config = root.join("artifact-gate.toml");
        std::fs::write(
            &config,
            format!("[api]\nsocket = \"{}\"\n{toml}", socket.display()),
        )
        .unwrap();
        let mut d = Self {
            child: None,
            socket,
            config,
            log: root.join("daemon.log"),
            env,
        };
        d.spawn(&[]);
        d
    }

    fn spawn(&mut self, extra: &[(&str, &Path)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_artifact-gate"));
        command
            .args(["daemon", "--config-file"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in extra {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        wait_for_socket(&self.socket, &mut child, &|| self.log_text());
        self.child = Some(child);
    }

    /// Stops with SIGTERM and returns the exit code. (A daemon that ignores it stays in
    /// `child`, so `Drop` kills it.)
    pub(crate) fn stop(&mut self) -> i32 {
        let child = self.child.as_mut().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A restart (a simulated reboot): stop, then start again with `extra` in the environment.
    pub(crate) fn restart(&mut self, extra: &[(&str, &Path)]) {
        assert_eq!(self.stop(), 0, "{}", self.log_text());
        self.spawn(extra);
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// curl against the API: (HTTP status, body).
    pub(crate) fn curl(&self, method: &str, path: &str, args: &[&str]) -> (u16, String) {
        curl_as(&self.socket, None, method, path, args)
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        let (code, body) = self.curl("GET", "/v1/status", &[]);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until a daemon answers on `socket`: the one start-up wait of every daemon test. Fails
/// the test, with `log()`, when `child` exits first or no socket appears within 20 s.
pub(crate) fn wait_for_socket(socket: &Path, child: &mut Child, log: &dyn Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(socket).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("daemon exited with {status}: {}", log());
        }
        assert!(Instant::now() < deadline, "no socket: {}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// curl over the socket, optionally as another user (`setpriv`).
fn curl_as(
    socket: &Path,
    user: Option<u32>,
    method: &str,
    path: &str,
    args: &[&str],
) -> (u16, String) {
    let mut command = match user {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .args(["--clear-groups", "curl"]);
            c
        }
        None => Command::new("curl"),
    };
    let out = command
        .args(["-sS", "--unix-socket"])
        .arg(socket)
        .args(["-X", method, "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("http://localhost{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        body.to_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub(crate) fn env_of(s: &Scratch) -> Vec<(String, OsString)> {
    let root = s.root();
    vec![
        ("MENDER_CONF_DIR".into(), root.join("etc").into()),
        ("MENDER_DATASTORE_DIR".into(), root.join("var").into()),
        ("MENDER_DATA_DIR".into(), root.join("share").into()),
    ]
}

fn app_artifact(s: &Scratch, name: &str, content: &str) -> PathBuf {
    crate::fixtures::app_artifact(s, name, content, &[])
}

fn target(s: &Scratch) -> Option<String> {
    crate::fixtures::app_target(s)
}

/// The NDJSON events of an install response.
fn events(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn last_event(body: &str) -> serde_json::Value {
    events(body)
        .pop()
        .unwrap_or_else(|| panic!("no events in {body:?}"))
}

#[test]
fn a_streamed_upload_installs_and_commits_with_progress_events() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let art = app_artifact(&s, "app-1", "streamed\n");
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    let evs = events(&body);
    let phases: Vec<&str> = evs
        .iter()
        .filter_map(|e| e.get("phase").and_then(|p| p.as_str()))
        .collect();
    assert_eq!(
        phases,
        ["Download", "ArtifactInstall", "ArtifactCommit"],
        "{body}"
    );
    let size = std::fs::metadata(&art).unwrap().len();
    assert!(
        evs.iter()
            .any(|e| e["event"] == "progress" && e["bytes"] == size),
        "{body}"
    );
    let result = last_event(&body);
    assert_eq!(result["event"], "result", "{body}");
    assert_eq!(result["status"], "committed");
    assert_eq!(target(&s).as_deref(), Some("streamed\n"));
    assert_eq!(d.status()["artifact_name"], "app-1");
}

#[test]
fn install_by_path_holds_an_ab_update_for_its_reboot_then_commits_after_it() {
    let dev = Device::new(PART);
    let mut d = Daemon::start(dev.s.root(), "", dev.env());
    let art = fx().path("rootfs-rsa.mender");
    let (code, body) = d.curl(
        "POST",
        "/v1/install",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"path":"{}"}}"#, art.display()),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let result = last_event(&body);
    assert_eq!(result["status"], "installed", "{body}");
    assert_eq!(result["reboot"], "automatic");
    assert_eq!(result["rebooting"], false);
    assert_eq!(dev.boot_vars(), (Some("3".into()), Some("1".into())));
    assert_eq!(d.status()["pending"]["artifact_name"], "rootfs-rsa");

    // The reboot: the bootloader started partition 3.
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(3))]);
    let status = d.status();
    assert_eq!(status["last_boot_check"]["result"], "committed", "{status}");
    assert_eq!(status["pending"], serde_json::Value::Null);
    assert_eq!(status["artifact_name"], "rootfs-rsa");
    assert_eq!(dev.boot_vars(), (Some("3".into()), Some("0".into())));
}

#[test]
fn a_restart_before_the_reboot_keeps_the_update_waiting() {
    let dev = Device::new(PART);
    let mut d = Daemon::start(dev.s.root(), "", dev.env());
    let art = fx().path("rootfs-rsa.mender");
    let (code, body) = d.curl("POST", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    // Only the service restarted: partition 2 still runs.
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(2))]);
    let status = d.status();
    assert_eq!(
        status["last_boot_check"]["result"], "waiting for reboot",
        "{status}"
    );
    assert_eq!(status["pending"]["artifact_name"], "rootfs-rsa");
    assert_eq!(dev.boot_vars(), (Some("3".into()), Some("1".into())));
}

#[test]
fn a_failed_boot_of_the_new_slot_rolls_back_on_start() {
    let dev = Device::new(PART);
    let mut d = Daemon::start(dev.s.root(), "", dev.env());
    let art = fx().path("rootfs-rsa.mender");
    let (code, body) = d.curl("POST", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    // The new system did not come up: the bootloader went back to partition 2 and cleared
    // upgrade_available, as Mender's boot scripts do.
    dev.set("mender_boot_part", "2");
    dev.set("upgrade_available", "0");
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(2))]);
    let status = d.status();
    assert_eq!(
        status["last_boot_check"]["result"], "rolled back",
        "{status}"
    );
    assert_eq!(status["pending"], serde_json::Value::Null);
    assert_eq!(status["artifact_name"], serde_json::Value::Null);
    assert_eq!(dev.boot_vars(), (Some("2".into()), Some("0".into())));
}

#[test]
fn a_failed_health_check_at_commit_rolls_back_and_reboots_into_the_old_slot() {
    let dev = Device::new(PART);
    let marker = dev.s.root().join("rebooted");
    let reboot = format!(
        "[update]\nreboot_after_install = true\nreboot_command = [\"touch\", \"{}\"]\n",
        marker.display()
    );
    let mut d = Daemon::start(dev.s.root(), &reboot, dev.env());
    let art = fx().path("rootfs-unhealthy.mender");
    let (code, body) = d.curl("POST", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(last_event(&body)["rebooting"], true, "{body}");
    wait_for_file(&marker);
    std::fs::remove_file(&marker).unwrap();

    // The new slot booted (upgrade_available still 1), but its ArtifactCommit_Enter script fails.
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(3))]);
    let status = d.status();
    let check = &status["last_boot_check"];
    assert_eq!(check["result"], "commit failed, rolled back", "{status}");
    assert!(
        check["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("ArtifactCommit_Enter_10 failed (exit 3)")),
        "{status}"
    );
    assert_eq!(check["error"]["class"], "failed", "{status}");
    assert_eq!(check["error"]["code"], "script_failed", "{status}");
    assert_eq!(check["reboot_required"], true, "{status}");
    assert_eq!(check["rebooting"], true, "{status}");
    // Back to the old slot, nothing pending, the old provides kept.
    assert_eq!(dev.boot_vars(), (Some("2".into()), Some("0".into())));
    assert_eq!(status["pending"], serde_json::Value::Null);
    assert_eq!(status["artifact_name"], serde_json::Value::Null);
    wait_for_file(&marker);
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn without_auto_commit_a_verified_boot_waits_for_post_commit() {
    let dev = Device::new(PART);
    let mut d = Daemon::start(dev.s.root(), "[update]\nauto_commit = false\n", dev.env());
    let art = fx().path("rootfs-rsa.mender");
    let (code, body) = d.curl("POST", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    d.restart(&[("ARTIFACT_GATE_ROOT_DEVICE", &dev.part_path(3))]);
    let status = d.status();
    assert_eq!(
        status["last_boot_check"]["result"], "verified, waiting for commit",
        "{status}"
    );
    assert_eq!(dev.boot_vars(), (Some("3".into()), Some("1".into())));
    let (code, body) = d.curl("POST", "/v1/commit", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"committed\""), "{body}");
    assert_eq!(dev.boot_vars(), (Some("3".into()), Some("0".into())));
    let (code, body) = d.curl("POST", "/v1/commit", &[]);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("nothing to commit"), "{body}");
}

/// Starts an upload of `art` on a raw connection and sends only its first half.
fn half_upload(socket: &Path, art: &[u8]) -> UnixStream {
    let mut conn = UnixStream::connect(socket).unwrap();
    write!(
        conn,
        "PUT /v1/install HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        art.len()
    )
    .unwrap();
    conn.write_all(&art[..art.len() / 2]).unwrap();
    conn.flush().unwrap();
    conn
}

/// Reads from `conn` until `end` has arrived (or the peer closed), as text.
fn read_until(conn: &mut UnixStream, end: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(end) {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn an_upload_that_asks_for_100_continue_is_answered_before_it_sends_its_body() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let art = std::fs::read(app_artifact(&s, "app-1", "continued\n")).unwrap();
    let mut conn = UnixStream::connect(&d.socket).unwrap();
    // A generous deadline only so a regression fails instead of hanging: a client that
    // waits for 100 Continue sends nothing until it comes (curl gives up after 1 s and
    // sends anyway, which hid this as a second lost on every upload).
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "PUT /v1/install HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        art.len()
    )
    .unwrap();
    let interim = read_until(&mut conn, "\r\n\r\n");
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "the first thing the daemon sends must be 100 Continue, got {interim:?}"
    );
    assert_eq!(target(&s), None, "nothing may be installed before the body");
    conn.write_all(&art).unwrap();
    let response = read_until(&mut conn, r#""event":"result""#);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let response = response + &read_until(&mut conn, "\n0\r\n");
    assert!(response.contains(r#""status":"committed""#), "{response}");
    assert_eq!(target(&s).as_deref(), Some("continued\n"));
}

/// Waits until the status shows a running install.
fn wait_for_install(d: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.status()["operation"]["name"] != "install" {
        assert!(Instant::now() < deadline, "install never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_install_while_one_runs_is_refused_as_busy_by_daemon_and_cli() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let art = std::fs::read(app_artifact(&s, "app-1", "first\n")).unwrap();
    let other = app_artifact(&s, "app-2", "second\n");
    let mut first = half_upload(&d.socket, &art);
    wait_for_install(&d);

    let (code, body) = d.curl("PUT", "/v1/install", &["-T", other.to_str().unwrap()]);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("busy: install"), "{body}");
    // The command line, installing in its own process, meets the same lock.
    let v = s.run(&["install", "--no-daemon", other.to_str().unwrap()]);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(v.stderr.contains("busy"), "{}", v.stderr);

    first.write_all(&art[art.len() / 2..]).unwrap();
    let mut response = String::new();
    first.read_to_string(&mut response).unwrap_or_default();
    assert!(response.contains("\"status\":\"committed\""), "{response}");
    assert_eq!(target(&s).as_deref(), Some("first\n"));
}

#[test]
fn malformed_requests_get_clear_errors_and_the_daemon_stays_up() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let mut raw = UnixStream::connect(&d.socket).unwrap();
    raw.write_all(b"THIS IS NOT HTTP\r\n\r\n").unwrap();
    let mut answer = String::new();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");

    let json = |body: &str| {
        d.curl(
            "POST",
            "/v1/install",
            &["-H", "Content-Type: application/json", "-d", body],
        )
    };
    for (body, why) in [
        ("{\"path\": 5}", "malformed JSON request"),
        ("{\"path\": \"relative.mender\"}", "path must be absolute"),
        ("{}", "give exactly one of"),
        ("{\"url\": \"http://plain\"}", "url must be https://"),
        ("{\"path\": \"/x\", \"extra\": 1}", "unknown field `extra`"),
        ("not json", "malformed JSON request"),
    ] {
        let (code, answer) = json(body);
        assert_eq!(code, 400, "{body}: {answer}");
        assert!(answer.contains(why), "{body}: expected {why:?} in {answer}");
    }
    let (code, _) = d.curl("GET", "/v2/everything", &[]);
    assert_eq!(code, 404);
    let (code, _) = d.curl("DELETE", "/v1/status", &[]);
    assert_eq!(code, 405);
    // A path that does not exist fails inside the install, as an error event.
    let (code, body) = json("{\"path\": \"/nonexistent/a.mender\"}");
    assert_eq!(code, 200);
    assert_eq!(last_event(&body)["event"], "error", "{body}");
    assert_eq!(d.status()["operation"], serde_json::Value::Null);
}

#[test]
fn an_unprivileged_client_reads_the_status_but_may_not_change_anything() {
    use std::os::unix::fs::PermissionsExt;
    let s = module_device();
    let d = Daemon::start(s.root(), "socket_mode = \"0666\"\n", env_of(&s));
    // Let `nobody` reach the socket at all.
    for dir in [s.root().to_path_buf(), s.root().join("run")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let art = app_artifact(&s, "app-1", "from nobody\n");
    std::fs::set_permissions(&art, std::fs::Permissions::from_mode(0o644)).unwrap();
    let nobody = Some(65534);
    let (code, body) = curl_as(&d.socket, nobody, "GET", "/v1/status", &[]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"pending\""), "{body}");
    let (code, body) = curl_as(
        &d.socket,
        nobody,
        "PUT",
        "/v1/install",
        &["-T", art.to_str().unwrap()],
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("uid 65534 may read the status but not change the system"),
        "{body}"
    );
    for change in ["/v1/commit", "/v1/rollback"] {
        let (code, body) = curl_as(&d.socket, nobody, "POST", change, &[]);
        assert_eq!(code, 403, "{change}: {body}");
    }
    assert_eq!(target(&s), None, "nothing may be installed");
    // Root, on the same socket, may.
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(target(&s).as_deref(), Some("from nobody\n"));
}

#[test]
fn sigterm_mid_upload_stops_cleanly_and_the_restarted_daemon_installs() {
    let s = module_device();
    let mut d = Daemon::start(s.root(), "", env_of(&s));
    let art = std::fs::read(app_artifact(&s, "app-1", "interrupted\n")).unwrap();
    let _conn = half_upload(&d.socket, &art);
    wait_for_install(&d);
    assert_eq!(d.stop(), 0, "{}", d.log_text());
    assert!(
        d.log_text().contains("the service is stopping"),
        "{}",
        d.log_text()
    );
    assert_eq!(target(&s), None, "nothing may be installed");
    let v = s.run(&["status", "--json"]);
    assert!(v.stdout.contains("\"pending\": null"), "{}", v.stdout);

    d.spawn(&[]);
    let whole = app_artifact(&s, "app-2", "after the restart\n");
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", whole.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(last_event(&body)["status"], "committed", "{body}");
    assert_eq!(target(&s).as_deref(), Some("after the restart\n"));
}

#[test]
fn the_command_line_installs_through_the_running_daemon() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let art = app_artifact(&s, "app-1", "via the daemon\n");
    // The CLI's own environment has no keys at all: only the daemon can do this install.
    let bare = Scratch::new();
    let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["install", art.to_str().unwrap()])
        .envs(env_of(&bare))
        .env("ARTIFACT_GATE_SOCKET", &d.socket)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("Installed and committed."), "{stdout}");
    assert!(
        stderr.contains("ArtifactInstall"),
        "daemon phases shown: {stderr}"
    );
    assert_eq!(target(&s).as_deref(), Some("via the daemon\n"));
    // With --no-daemon the same command runs locally, where no key is configured.
    let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["install", "--no-daemon", art.to_str().unwrap()])
        .envs(env_of(&bare))
        .env("ARTIFACT_GATE_SOCKET", &d.socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no verification key configured"));
}

#[test]
fn a_broken_device_configuration_stops_the_daemon_before_it_listens() {
    let s = module_device();
    s.write(
        "etc/mender.conf",
        b"{\"ArtifactVerifyKey\": \"/nonexistent.pem\"}",
    );
    std::fs::write(
        s.root().join("gate.toml"),
        format!(
            "[api]\nsocket = \"{}\"\n",
            s.root().join("run/api.sock").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["daemon", "--config-file"])
        .arg(s.root().join("gate.toml"))
        .envs(env_of(&s))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent.pem"), "{stderr}");
    assert!(!s.root().join("run/api.sock").exists());

    std::fs::write(s.root().join("bad.toml"), "[api]\nsokcet = \"/x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["daemon", "--config-file"])
        .arg(s.root().join("bad.toml"))
        .envs(env_of(&s))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `sokcet`"));
}

/// Collects what the daemon sends to `NOTIFY_SOCKET` on a thread of its own, reading as
/// promptly as systemd does.
struct NotifySocket {
    path: PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        Self { path, seen }
    }

    /// Waits until a message contains `what`; returns it.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self.seen.lock().unwrap().iter().find(|m| m.contains(what)) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} in {:?}",
                self.seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn systemd_hears_ready_status_watchdog_pings_and_stopping() {
    let s = module_device();
    let notify = NotifySocket::bind(s.root());
    let mut d = Daemon::start(s.root(), "", {
        let mut env = env_of(&s);
        env.push(("NOTIFY_SOCKET".into(), notify.path.clone().into()));
        env.push(("WATCHDOG_USEC".into(), "400000".into()));
        env
    });
    // `start` removes NOTIFY_SOCKET for the other tests; this one restarts with it.
    d.restart(&[("NOTIFY_SOCKET", &notify.path)]);
    let ready = notify.wait_for("READY=1");
    assert!(ready.contains("STATUS=idle"), "{ready}");
    // WATCHDOG_USEC=400000 (0.4 s): pings every 0.2 s.
    notify.wait_for("WATCHDOG=1");
    let art = app_artifact(&s, "app-1", "watched\n");
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    notify.wait_for("STATUS=install: Download");
    notify.wait_for("STATUS=install: ArtifactInstall");
    assert_eq!(d.stop(), 0);
    notify.wait_for("STOPPING=1");
}

#[test]
fn a_socket_made_by_systemd_is_used_as_passed() {
    let s = module_device();
    let socket = s.root().join("activated.sock");
    let config = s.root().join("gate.toml");
    // The daemon's own socket setting names elsewhere: the passed one must win.
    std::fs::write(
        &config,
        format!(
            "[api]\nsocket = \"{}\"\n",
            s.root().join("unused.sock").display()
        ),
    )
    .unwrap();
    let mut activate = Command::new("systemd-socket-activate");
    activate.arg("-l").arg(&socket);
    // It passes on only the variables it is told to.
    for (k, v) in env_of(&s) {
        activate.arg(format!("--setenv={k}={}", v.to_string_lossy()));
    }
    // Under ARM emulation (scripts/test-arm.sh) the binary's interpreter needs these too.
    for k in ["QEMU_LD_PREFIX", "QEMU_CPU"] {
        if let Some(v) = std::env::var_os(k) {
            activate.arg(format!("--setenv={k}={}", v.to_string_lossy()));
        }
    }
    let mut child = activate
        .arg(env!("CARGO_BIN_EXE_artifact-gate"))
        .args(["daemon", "--config-file"])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate made no socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first connection starts the daemon on the passed socket.
    let (code, body) = curl_as(&socket, None, "GET", "/v1/status", &[]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = Command::new("pkill")
        .args(["-f", &config.display().to_string()])
        .status();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"last_boot_check\""), "{body}");
    assert!(!s.root().join("unused.sock").exists());
}

#[test]
fn a_stalled_upload_is_abandoned_and_frees_the_slot() {
    let s = module_device();
    let mut d = Daemon::start(s.root(), "[limits]\nupload_stall_seconds = 1\n", env_of(&s));
    let art = std::fs::read(app_artifact(&s, "app-1", "stalled\n")).unwrap();
    let mut stalled = half_upload(&d.socket, &art);
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut response = String::new();
    let _ = stalled.read_to_string(&mut response);
    assert!(response.contains("no data for 1 s"), "{response}");
    // A stall is an interruption: the same artifact may well install on the next try.
    assert!(
        response.contains(r#""class":"interrupted","code":"interrupted""#),
        "{response}"
    );
    assert_eq!(target(&s), None);
    assert_eq!(d.status()["operation"], serde_json::Value::Null);
    // The next install, with the default 60 s (a loaded machine can keep curl quiet for a
    // second).
    std::fs::write(
        &d.config,
        format!("[api]\nsocket = \"{}\"\n", d.socket.display()),
    )
    .unwrap();
    d.restart(&[]);
    let whole = app_artifact(&s, "app-2", "after the stall\n");
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", whole.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(last_event(&body)["status"], "committed", "{body}");
    assert_eq!(target(&s).as_deref(), Some("after the stall\n"));
}

#[test]
fn every_api_failure_carries_its_class_code_and_message() {
    let s = module_device();
    let d = Daemon::start(s.root(), "", env_of(&s));
    let failure_of = |v: &serde_json::Value| {
        (
            v["class"].as_str().unwrap_or_default().to_owned(),
            v["code"].as_str().unwrap_or_default().to_owned(),
            v["message"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // The artifact is bad: signed by a key the device does not trust, or not signed at all.
    for (fixture, code, words) in [
        ("mod-ec.mender", "signature_invalid", "signature"),
        ("mod-unsigned.mender", "signature_missing", "not signed"),
    ] {
        let art = fx().path(fixture);
        let (status, body) = d.curl("PUT", "/v1/install", &["-T", art.to_str().unwrap()]);
        assert_eq!(status, 200, "{body}");
        let last = last_event(&body);
        assert_eq!(last["event"], "error", "{body}");
        let (class, found, message) = failure_of(&last);
        assert_eq!(
            (class.as_str(), found.as_str()),
            ("rejected", code),
            "{body}"
        );
        assert!(message.contains(words), "{fixture}: {message}");
    }
    // The device's side: the named file is not there.
    let (_, body) = d.curl(
        "POST",
        "/v1/install",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            "{\"path\": \"/nonexistent/a.mender\"}",
        ],
    );
    let (class, code, message) = failure_of(&last_event(&body));
    assert_eq!(
        (class.as_str(), code.as_str()),
        ("failed", "source_unavailable")
    );
    assert!(message.contains("/nonexistent/a.mender"), "{message}");
    // The caller's side, with HTTP statuses derived from class and code.
    for (method, path, args, status, class, code) in [
        (
            "POST",
            "/v1/install",
            &["-H", "Content-Type: application/json", "-d", "{}"][..],
            400,
            "config",
            "bad_request",
        ),
        (
            "GET",
            "/v2/nothing",
            &[][..],
            404,
            "config",
            "no_such_endpoint",
        ),
        (
            "DELETE",
            "/v1/status",
            &[][..],
            405,
            "config",
            "method_not_allowed",
        ),
        (
            "POST",
            "/v1/commit",
            &[][..],
            409,
            "failed",
            "nothing_pending",
        ),
    ] {
        let (found, body) = d.curl(method, path, args);
        assert_eq!(found, status, "{method} {path}: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (c, k, message) = failure_of(&answer);
        assert_eq!(
            (c.as_str(), k.as_str()),
            (class, code),
            "{method} {path}: {body}"
        );
        assert!(!message.is_empty(), "{body}");
    }
    assert_eq!(crate::fixtures::app_target(&s), None);
}
