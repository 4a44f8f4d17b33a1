//! A real web server for the HTTPS tests: Debian's nginx with TLS on 127.0.0.1, started and
//! stopped by the test, its access log readable; certificates of each kind made by OpenSSL; and
//! a TCP proxy of our own between client and nginx that cuts or stalls connections at chosen
//! byte offsets.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

use crate::fixtures::Scratch;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which certificate the server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// Issued by a test CA; `ServerCertificate` is the CA.
    CaIssued,
    /// Self-signed as a bare `openssl req -x509` makes it (`CA:TRUE`).
    SelfSignedCa,
    /// Self-signed with `CA:FALSE`.
    SelfSignedLeaf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `srv.pem`/`srv.key` for 127.0.0.1 and 10.0.2.2 (the host as a QEMU guest sees it) in
/// `dir`, and returns the file to name in `ServerCertificate`.
pub fn certificates(dir: &Path, kind: CertKind) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let san = "subjectAltName=IP:127.0.0.1,IP:10.0.2.2";
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let self_signed = |constraints: &str| {
        let mut args = vec!["req", "-x509"];
        args.extend(key);
        args.extend([
            "-keyout",
            "srv.key",
            "-out",
            "srv.pem",
            "-subj",
            "/CN=127.0.0.1",
            "-days",
            "2",
            "-addext",
            san,
            "-addext",
            constraints,
        ]);
        openssl(dir, &args);
        dir.join("srv.pem")
    };
    match kind {
        CertKind::SelfSignedCa => self_signed("basicConstraints=critical,CA:TRUE"),
        CertKind::SelfSignedLeaf => self_signed("basicConstraints=critical,CA:FALSE"),
        CertKind::CaIssued => {
            let mut args = vec!["req", "-x509"];
            args.extend(key);
            // A name of its own: two test CAs must not look like one to a verifier.
            let subject = format!("/CN=test CA {}", std::process::id() ^ nanos());
            args.extend([
                "-keyout", "ca.key", "-out", "ca.pem", "-subj", &subject, "-days", "2",
            ]);
            openssl(dir, &args);
            let mut args = vec!["req"];
            args.extend(key);
            args.extend([
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]);
            openssl(dir, &args);
            std::fs::write(dir.join("ext"), format!("{san}\n")).unwrap();
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "srv.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    "srv.pem",
                    "-days",
                    "2",
                    "-extfile",
                    "ext",
                ],
            );
            dir.join("ca.pem")
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// nginx serving `www/` over TLS; stopped when dropped.
pub struct Nginx {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The document root.
    pub www: PathBuf,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx under `dir` with a certificate of `kind`; returns it and the file to name
    /// in `ServerCertificate`.
    pub fn start(dir: &Path, kind: CertKind) -> (Self, PathBuf) {
        Self::start_with_api(dir, kind, None)
    }

    /// As [`Nginx::start`], with `/api/` proxied to `127.0.0.1:api` (the Mender server
    /// stand-in), as a Mender server's gateway routes it.
    pub fn start_with_api(dir: &Path, kind: CertKind, api: Option<u16>) -> (Self, PathBuf) {
        Self::start_with(dir, kind, api, "")
    }

    /// As [`Nginx::start_with_api`], with `extra` directives in the server block (client
    /// certificate checks, say).
    pub fn start_with(
        dir: &Path,
        kind: CertKind,
        api: Option<u16>,
        extra: &str,
    ) -> (Self, PathBuf) {
        let pki = dir.join("pki");
        let proxy = api.map_or_else(String::new, |port| {
            format!("location /api/ {{ proxy_pass http://127.0.0.1:{port}; }}\n        {extra}")
        });
        let trust = certificates(&pki, kind);
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let conf = dir.join("nginx.conf");
            let user = if nix_root() { "user root;\n" } else { "" };
            std::fs::write(
                &conf,
                format!(
                    r#"{user}worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    log_format gate '$status $request_uri "$http_range" "$http_if_range" "$http_if_none_match" $body_bytes_sent';
    access_log {dir}/access.log gate;
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    types {{ application/octet-stream mender; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki}/srv.pem;
        ssl_certificate_key {pki}/srv.key;
        # Small TLS records, so a cut at a chosen offset lands close to it.
        ssl_buffer_size 4k;
        root {www};
        location = /redirect {{ return 302 /art.mender; }}
        location = /to-http {{ return 302 http://127.0.0.1:9/art.mender; }}
        {proxy}
    }}
}}
"#,
                    dir = dir.display(),
                    pki = pki.display(),
                    www = www.display(),
                ),
            )
            .unwrap();
            let mut child = Command::new("nginx")
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx (scripts/install-deps.sh installs it)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    let server = Self {
                        child,
                        port,
                        www: www.clone(),
                        dir: dir.to_owned(),
                    };
                    return (server, trust);
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }

    /// `https://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }

    /// Puts `file` at `www/name`, replacing atomically what was there (as a deploy would).
    pub fn publish(&self, name: &str, file: &Path) {
        // nginx's validators are the size and the mtime in whole seconds: each publication
        // gets an mtime of its own, as deploys seconds apart would.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let step = NEXT.fetch_add(1, Ordering::SeqCst);
        let mtime = std::time::SystemTime::now() + Duration::from_secs(10 * (step + 1));
        self.publish_at(name, file, mtime);
    }

    /// Puts `file` at `www/name` with the modification time `mtime`.
    pub fn publish_at(&self, name: &str, file: &Path, mtime: std::time::SystemTime) {
        let target = self.www.join(name);
        let tmp = target.with_extension("publishing");
        std::fs::copy(file, &tmp).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        std::fs::rename(tmp, target).unwrap();
    }

    /// The access log's lines: `status uri "range" "if-range" "if-none-match" bytes`.
    pub fn log(&self) -> Vec<String> {
        // nginx writes each line when the request ends; give it a moment.
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The bytes of the body nginx sent for `uri`, over all requests.
    pub fn body_bytes(&self, uri: &str) -> u64 {
        self.log()
            .iter()
            .filter(|l| l.split(' ').nth(1) == Some(uri))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM is nginx's fast shutdown: the master stops its workers, then exits. A
        // SIGKILL of the master alone left every worker behind, one set per test.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the tests run as root (then nginx's workers must stay root to read the scratch
/// directories, which are private to the test's user).
fn nix_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false)
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// About 1 MiB of text that compresses poorly, so the artifact is about that size.
pub fn payload(seed: u64) -> String {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..64 * 1024)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            format!("{:016x}", x >> 1)
        })
        .collect()
}

/// A module device trusting `trust`, with `[download]` settings `download`.
pub fn device(trust: &Path, download: &str) -> Scratch {
    let s = crate::fixtures::module_device();
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}","ServerCertificate":"{}"}}"#,
            crate::fixtures::fx().path("rsa.pub").display(),
            trust.display()
        )
        .as_bytes(),
    );
    s.write(
        "etc/artifact-gate.toml",
        format!("[download]\n{download}\n").as_bytes(),
    );
    s
}

/// What the proxy does to one connection, counted in bytes from the server.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Passes everything.
    None,
    /// Closes both sides after this many bytes.
    CutAt(u64),
    /// Stops forwarding after this many bytes and holds the connection open this long.
    StallAt(u64, Duration),
}

/// A TCP proxy to nginx; the n-th connection gets the n-th fault (then none).
pub struct Proxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Bytes passed from the server to clients, over all connections.
    pub passed: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let passed = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(faults.into_iter()));
        let (p, c) = (passed.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let fault = faults.lock().unwrap().next().unwrap_or(Fault::None);
                let p = p.clone();
                std::thread::spawn(move || pump(client, upstream, fault, &p));
            }
        });
        Self {
            port,
            passed,
            connections,
        }
    }

    /// `https://127.0.0.1:PROXY/path` (the certificate names 127.0.0.1, so TLS still verifies).
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}/{path}", self.port)
    }
}

fn pump(mut client: TcpStream, upstream: u16, fault: Fault, passed: &AtomicU64) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let limit = match fault {
        Fault::None => u64::MAX,
        Fault::CutAt(n) | Fault::StallAt(n, _) => n,
    };
    let mut sent = 0u64;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let want = usize::try_from((limit - sent).min(buf.len() as u64)).unwrap();
        if want == 0 {
            break;
        }
        let n = match server.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        passed.fetch_add(n as u64, Ordering::SeqCst);
    }
    if let Fault::StallAt(_, hold) = fault {
        std::thread::sleep(hold);
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}
