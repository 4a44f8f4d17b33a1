//! The Mender server stand-in (`tests/standin/mender_server.py`, written from the device API
//! documents) behind Debian's nginx, which terminates TLS and routes `/api/` to it as a Mender
//! server's gateway does and serves the artifacts itself (a stand-in for the object store);
//! and the two clients that talk to it: artifact-gate's agent, and Debian's Go `mender` client in
//! a private mount namespace.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{Scratch, fx, module_device};
use crate::web::{CertKind, Nginx};

/// The stand-in and its nginx; both stopped when dropped.
pub struct Server {
    child: Child,
    /// The stand-in's own port (its `/_control/` API; nginx proxies only `/api/`).
    pub control: u16,
    /// nginx in front: the server URL and the artifacts.
    pub nginx: Nginx,
    /// The file to name in `ServerCertificate`.
    pub trust: PathBuf,
    log: PathBuf,
}

impl Server {
    /// Starts the stand-in with `flags` (`--auto-accept`, `--v2`, `--tenant-token T`).
    pub fn start(dir: &Path, flags: &[&str]) -> Self {
        Self::start_with(dir, flags, "")
    }

    /// As [`Server::start`], with `nginx` directives in nginx's server block.
    pub fn start_with(dir: &Path, flags: &[&str], nginx: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let control = crate::web::free_port();
        let log = dir.join("standin.log");
        let mut child = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin/mender_server.py"))
            .args(["--port", &control.to_string()])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", control)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "stand-in exited: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            assert!(Instant::now() < deadline, "stand-in did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (nginx, trust) =
            Nginx::start_with(&dir.join("web"), CertKind::CaIssued, Some(control), nginx);
        std::fs::create_dir_all(nginx.www.join("artifacts")).unwrap();
        Self {
            child,
            control,
            nginx,
            trust,
            log,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.nginx.port)
    }

    /// One control call: the answer's JSON.
    pub fn control(&self, path: &str, body: &Value) -> Value {
        let body = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.control)).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: standin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let (_, json) = answer.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(json).unwrap()
    }

    /// Everything the stand-in saw.
    pub fn state(&self) -> Value {
        self.control("/_control/state", &json!({}))
    }

    /// Publishes `file` on nginx and deploys it as deployment `id`; `extra` adds fields
    /// (`abort_on`, `uri`).
    pub fn deploy(&self, id: &str, artifact_name: &str, file: &Path, extra: Value) {
        self.nginx.publish(&format!("artifacts/{id}.mender"), file);
        let mut body = json!({
            "id": id,
            "artifact_name": artifact_name,
            "uri": self.nginx.url(&format!("artifacts/{id}.mender")),
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.control("/_control/deploy", &body);
    }

    /// The statuses reported for deployment `id`, in order.
    pub fn statuses(&self, id: &str) -> Vec<String> {
        self.state()["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["deployment"] == id)
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until `done` holds for the state; fails with the state and `log()` otherwise.
    pub fn wait_for(
        &self,
        what: &str,
        log: &dyn Fn() -> String,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = self.state();
            if done(&state) {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stand-in state {state:#}\nstand-in log:\n{}\nclient log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default(),
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A module device whose mender.conf names `server` (and the fixtures' RSA verify key), with
/// quick intervals and `extra` settings (`"Key": value, …`), and an identity script.
pub fn device(server: &Server, extra: &str) -> Scratch {
    let s = module_device();
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}","ServerURL":"{}","ServerCertificate":"{}",
                "UpdatePollIntervalSeconds":1,"InventoryPollIntervalSeconds":30,
                "RetryPollIntervalSeconds":1,"DBus":{{"Enabled":false}}{extra}}}"#,
            fx().path("rsa.pub").display(),
            server.url(),
            server.trust.display()
        )
        .as_bytes(),
    );
    let mac = format!(
        "52:54:00:{:02x}:{:02x}:{:02x}",
        std::process::id() as u8,
        rand_byte(),
        rand_byte()
    );
    script(
        &s,
        "share/identity/mender-device-identity",
        &format!("echo mac={mac}\necho serial=standin-test"),
    );
    script(
        &s,
        "share/inventory/mender-inventory-os",
        "echo os=Debian GNU/Linux",
    );
    s
}

fn rand_byte() -> u8 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u8
}

/// An executable shell script at `name` under the sandbox.
pub fn script(s: &Scratch, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = s.write(name, format!("#!/bin/sh\n{body}\n").as_bytes());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A P-256 device key at the default place (quicker than the RSA 3072 key made on first start).
pub fn quick_device_key(s: &Scratch) {
    let out = Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(s.root().join("var/mender-agent.pem"))
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Debian's Go client (`mender daemon`) on the sandbox device, in a private mount namespace:
/// `etc/` is its `/etc/mender`, `var/` its `/var/lib/mender`, `share/` its `/usr/share/mender`.
pub struct GoClient {
    child: Child,
    /// Its log.
    pub log: PathBuf,
}

impl GoClient {
    /// Starts it.
    pub fn start(s: &Scratch) -> Self {
        let root = s.root();
        let varlib = root.join("varlib");
        std::fs::create_dir_all(&varlib).unwrap();
        std::os::unix::fs::symlink(root.join("var"), varlib.join("mender")).unwrap();
        s.write("etc/artifact_info", b"artifact_name=release-1\n");
        let log = root.join("mender.log");
        let script = format!(
            "mount --bind {etc} /etc/mender && mount --bind {varlib} /var/lib && \
             mount --bind {share} /usr/share/mender && exec mender -log-level info daemon",
            etc = root.join("etc").display(),
            varlib = varlib.display(),
            share = root.join("share").display()
        );
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .process_group(0)
            .spawn()
            .expect("unshare (util-linux) and mender (mender-client)");
        Self { child, log }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GoClient {
    fn drop(&mut self) {
        // The whole group: unshare, its shell and mender (by its own group id, never -1).
        if let Ok(pid) = i32::try_from(self.child.id())
            && pid > 1
        {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
            std::thread::sleep(Duration::from_millis(300));
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// curl against nginx (trusting the stand-in's CA): (status, body).
pub fn curl(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--cacert"])
        .arg(&server.trust)
        .args(["-X", method, "-w", "\n%{http_code}"]);
    for h in headers {
        c.args(["-H", h]);
    }
    if !body.is_empty() {
        c.args(["--data-binary", body]);
    }
    let out = c.arg(format!("{}{path}", server.url())).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}
