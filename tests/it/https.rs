//! Artifacts streamed from an `https://` URL: a local HTTPS server on 127.0.0.1 with a test CA,
//! trusted through mender.conf's `ServerCertificate`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::fixtures::{Scratch, fx};

const SERVER: &str = r#"
import http.server, os, ssl, sys
os.chdir(sys.argv[1])
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/redirect":
            self.send_response(302); self.send_header("Location", "/art.mender"); self.end_headers(); return
        if self.path == "/to-http":
            self.send_response(302); self.send_header("Location", "http://127.0.0.1:9/art.mender"); self.end_headers(); return
        return super().do_GET()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The test server; killed (by its own PID) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A CA, a server certificate for 127.0.0.1 signed by it, and the server serving `art.mender`.
fn serve(s: &Scratch) -> Server {
    let dir = s.root().join("www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fx().path("mod-rsa.mender"), dir.join("art.mender")).unwrap();
    let pki = s.root().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=test CA",
            "-days",
            "2",
        ],
    );
    openssl(
        &pki,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(pki.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &pki,
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
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(&dir)
        .arg(pki.join("srv.pem"))
        .arg(pki.join("srv.key"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("server port");
    Server { child, port }
}

fn configure(s: &Scratch, trust_test_ca: bool) {
    let cert = if trust_test_ca {
        format!(
            r#","ServerCertificate":"{}""#,
            s.root().join("pki/ca.pem").display()
        )
    } else {
        String::new()
    };
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}"{cert}}}"#,
            fx().path("rsa.pub").display()
        )
        .as_bytes(),
    );
}

#[test]
fn validate_streams_from_https_and_follows_redirects() {
    let s = Scratch::new();
    let server = serve(&s);
    configure(&s, true);
    for path in ["art.mender", "redirect"] {
        let url = format!("https://127.0.0.1:{}/{path}", server.port);
        let v = s.run(&["validate", &url]);
        v.valid();
        assert!(v.stdout.contains("'mod-rsa'"), "{}", v.stdout);
    }
}

#[test]
fn tls_and_http_failures_are_clear_io_errors() {
    let s = Scratch::new();
    let server = serve(&s);
    configure(&s, false);
    let url = format!("https://127.0.0.1:{}/art.mender", server.port);
    let v = s.run(&["validate", &url]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(
        v.stderr.contains(&format!("downloading {url} failed")),
        "{}",
        v.stderr
    );
    // In words an operator can act on, never rustls' debug form.
    assert!(
        v.stderr.contains(
            "the server's certificate is not issued by any certificate trusted here (the \
             system's root certificates (no ServerCertificate is configured))"
        ),
        "{}",
        v.stderr
    );
    crate::fixtures::assert_operator_words(&v.stderr);

    configure(&s, true);
    let missing = format!("https://127.0.0.1:{}/missing.mender", server.port);
    let v = s.run(&["validate", &missing]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(v.stderr.contains("404"), "{}", v.stderr);

    let v = s.run(&[
        "validate",
        &format!("https://127.0.0.1:{}/to-http", server.port),
    ]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(v.stdout.is_empty());

    // A plain http:// URL is the caller's mistake (class `config`), not a device failure.
    let v = s.run(&["validate", "http://127.0.0.1:9/art.mender"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(v.stderr.contains("refusing plain http://"), "{}", v.stderr);
}
