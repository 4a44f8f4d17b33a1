//! Artifacts streamed from an `https://` URL served by nginx on 127.0.0.1, trusted through
//! mender.conf's `ServerCertificate` in each form Mender accepts: the CA that issued the
//! server's certificate, or the server's own self-signed certificate (`CA:TRUE` or `CA:FALSE`).

use std::path::Path;

use crate::fixtures::{Scratch, fx};
use crate::web::{CertKind, Nginx, certificates};

fn configure(s: &Scratch, trust: Option<&Path>) {
    let cert = match trust {
        Some(path) => format!(r#","ServerCertificate":"{}""#, path.display()),
        None => String::new(),
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

fn serve(s: &Scratch, kind: CertKind) -> (Nginx, std::path::PathBuf) {
    let (nginx, trust) = Nginx::start(&s.root().join("web"), kind);
    nginx.publish("art.mender", &fx().path("mod-rsa.mender"));
    (nginx, trust)
}

#[test]
fn validate_streams_from_https_and_follows_redirects() {
    let s = Scratch::new();
    let (nginx, trust) = serve(&s, CertKind::CaIssued);
    configure(&s, Some(&trust));
    for path in ["art.mender", "redirect"] {
        let v = s.run(&["validate", &nginx.url(path)]);
        v.valid();
        assert!(v.stdout.contains("'mod-rsa'"), "{}", v.stdout);
    }
}

#[test]
fn a_self_signed_server_certificate_is_trusted_as_that_exact_certificate() {
    for kind in [CertKind::SelfSignedCa, CertKind::SelfSignedLeaf] {
        let s = Scratch::new();
        let (nginx, trust) = serve(&s, kind);
        configure(&s, Some(&trust));
        let v = s.run(&["validate", &nginx.url("art.mender")]);
        v.valid();
        // The host name is still checked: the certificate names 127.0.0.1, not localhost.
        let by_name = format!("https://localhost:{}/art.mender", nginx.port);
        let v = s.run(&["validate", &by_name]);
        assert_eq!(v.code, 3, "{kind:?}: {}", v.stderr);
        assert!(
            v.stderr
                .contains("the server's certificate is not valid for the host name in the URL"),
            "{kind:?}: {}",
            v.stderr
        );
        crate::fixtures::assert_operator_words(&v.stderr);
    }
}

#[test]
fn a_server_certificate_that_is_neither_the_issuer_nor_the_certificate_is_refused_in_words() {
    for kind in [CertKind::SelfSignedCa, CertKind::CaIssued] {
        let s = Scratch::new();
        let (nginx, _) = serve(&s, kind);
        // Another certificate of the same kind, made elsewhere.
        let other = certificates(&s.root().join("other"), kind);
        configure(&s, Some(&other));
        let v = s.run(&["validate", &nginx.url("art.mender")]);
        assert_eq!(v.code, 3, "{kind:?}: {}", v.stderr);
        let words = format!(
            "the server's certificate is not issued by ServerCertificate {} or the system's \
             root certificates",
            other.display()
        );
        assert!(v.stderr.contains(&words), "{kind:?}: {}", v.stderr);
        assert!(!v.stderr.contains("Other("), "{}", v.stderr);
        crate::fixtures::assert_operator_words(&v.stderr);
        assert!(v.stdout.is_empty());
    }
}

#[test]
fn tls_and_http_failures_are_clear_io_errors() {
    let s = Scratch::new();
    let (nginx, trust) = serve(&s, CertKind::CaIssued);
    configure(&s, None);
    let url = nginx.url("art.mender");
    let v = s.run(&["validate", &url]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(
        v.stderr.contains(&format!("downloading {url}")),
        "{}",
        v.stderr
    );
    // In words an operator can act on, never rustls' debug form.
    assert!(
        v.stderr.contains(
            "the server's certificate is not issued by the system's root certificates (no \
             ServerCertificate is configured)"
        ),
        "{}",
        v.stderr
    );
    crate::fixtures::assert_operator_words(&v.stderr);

    configure(&s, Some(&trust));
    let v = s.run(&["validate", &nginx.url("missing.mender")]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(v.stderr.contains("404 (not found"), "{}", v.stderr);

    let v = s.run(&["validate", &nginx.url("to-http")]);
    assert_eq!(v.code, 3, "{}", v.stderr);
    assert!(
        v.stderr.contains("redirected to plain http://"),
        "{}",
        v.stderr
    );
    assert!(v.stdout.is_empty());

    // A plain http:// URL is the caller's mistake (class `config`), not a device failure.
    let v = s.run(&["validate", "http://127.0.0.1:9/art.mender"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(v.stderr.contains("refusing plain http://"), "{}", v.stderr);
}
