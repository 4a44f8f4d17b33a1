//! Trust policy beyond the signature (issue #16). Item 1: an install bound to the artifact that
//! was inspected, by the SHA-256 of its raw manifest (which the signature covers).

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{app_artifact, app_target, gate, module_device, sha256_hex, untar};

/// The SHA-256 of an artifact's raw `manifest` member.
fn manifest_sha256(artifact: &std::path::Path) -> String {
    let members = untar(&std::fs::read(artifact).unwrap());
    let manifest = members.iter().find(|m| m.name == "manifest").unwrap();
    sha256_hex(&manifest.data)
}

#[test]
fn validate_and_read_report_the_manifest_sha256() {
    let s = module_device();
    let art = app_artifact(&s, "release-1", "one\n", &[]);
    let expected = manifest_sha256(&art);
    let out = gate(&["validate", art.to_str().unwrap()], s.root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.trim_end()
            .ends_with(&format!("; manifest_sha256 {expected}")),
        "{line}"
    );
    let out = gate(&["read", "--json", art.to_str().unwrap()], s.root());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["manifest_sha256"], expected.as_str());
}

#[test]
fn a_validly_signed_but_other_artifact_than_the_inspected_one_is_rejected() {
    let s = module_device();
    let inspected = app_artifact(&s, "release-1", "inspected\n", &[]);
    let swapped = app_artifact(&s, "release-1-swapped", "swapped in\n", &[]);
    let want = manifest_sha256(&inspected);
    let found = manifest_sha256(&swapped);
    assert_ne!(want, found);
    let out = gate(
        &[
            "install",
            "--no-daemon",
            "--expect-manifest-sha256",
            &want,
            swapped.to_str().unwrap(),
        ],
        s.root(),
    );
    assert_eq!(out.status.code(), Some(1));
    let words = String::from_utf8_lossy(&out.stderr);
    assert!(
        words.contains("not the inspected artifact")
            && words.contains(&want)
            && words.contains(&found),
        "{words}"
    );
    assert_eq!(app_target(&s), None, "the swapped artifact was installed");
    // The inspected one installs.
    let out = gate(
        &[
            "install",
            "--no-daemon",
            "--expect-manifest-sha256",
            &want.to_uppercase(),
            inspected.to_str().unwrap(),
        ],
        s.root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app_target(&s).as_deref(), Some("inspected\n"));
    // A value that is no SHA-256 is a usage error.
    let out = gate(
        &[
            "install",
            "--expect-manifest-sha256",
            "abc",
            inspected.to_str().unwrap(),
        ],
        s.root(),
    );
    assert_eq!(out.status.code(), Some(2));
}

/// `POST /v1/install` of `path` bound to `want`: (status, event stream).
fn install_by_path(d: &Daemon, path: &std::path::Path, want: &str) -> (u16, String) {
    d.curl(
        "POST",
        "/v1/install",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(
                r#"{{"path":"{}","expect_manifest_sha256":"{want}"}}"#,
                path.display()
            ),
        ],
    )
}

#[test]
fn the_daemon_binds_an_install_to_the_inspected_artifact_too() {
    let s = module_device();
    let inspected = app_artifact(&s, "release-1", "inspected\n", &[]);
    let swapped = app_artifact(&s, "release-1-swapped", "swapped in\n", &[]);
    let want = manifest_sha256(&inspected);
    let d = Daemon::start(s.root(), "", env_of(&s));
    // By path, in the JSON request.
    let (code, body) = install_by_path(&d, &swapped, &want);
    assert_eq!(code, 200, "{body}");
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error", "{body}");
    assert_eq!(last["code"], "manifest_mismatch", "{body}");
    assert_eq!(last["class"], "rejected", "{body}");
    assert_eq!(app_target(&s), None);
    // Streamed through the command line (the daemon's client): the same refusal.
    let socket = s.root().join("run/api.sock");
    let bytes = std::fs::read(&swapped).unwrap();
    let out = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_artifact-gate"));
        cmd.args(["install", "--expect-manifest-sha256", &want, "-"])
            .envs(env_of(&s))
            .env("ARTIFACT_GATE_SOCKET", &socket)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(&bytes);
        child.wait_with_output().unwrap()
    };
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the inspected artifact"));
    assert_eq!(app_target(&s), None);
    // The inspected one.
    let (code, body) = install_by_path(&d, &inspected, &want);
    assert_eq!(code, 200, "{body}");
    assert_eq!(app_target(&s).as_deref(), Some("inspected\n"), "{body}");
}

// Item 5: revoked keys.

/// `sha256:` of a PEM public key's SubjectPublicKeyInfo DER, by OpenSSL.
fn openssl_fingerprint(pem: &std::path::Path) -> String {
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(der.status.success());
    format!("sha256:{}", sha256_hex(&der.stdout))
}

#[test]
fn read_prints_the_fingerprint_that_revoked_keys_takes() {
    let s = module_device();
    let art = app_artifact(&s, "release-1", "one\n", &[]);
    let print = openssl_fingerprint(&crate::fixtures::fx().path("rsa.pub"));
    let out = gate(&["read", "--json", art.to_str().unwrap()], s.root());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["signature"]["key_fingerprint"], print.as_str());
    let out = gate(&["read", art.to_str().unwrap()], s.root());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&print));
}

#[test]
fn a_revoked_key_is_refused_although_mender_conf_still_lists_it() {
    let s = module_device();
    let art = app_artifact(&s, "release-1", "one\n", &[]);
    let rsa = openssl_fingerprint(&crate::fixtures::fx().path("rsa.pub"));
    let ec = openssl_fingerprint(&crate::fixtures::fx().path("ec.pub"));
    // Revoking another key changes nothing.
    s.write(
        "etc/artifact-gate.toml",
        format!("[policy]\nrevoked_keys = [\"{ec}\"]\n").as_bytes(),
    );
    let out = gate(&["validate", art.to_str().unwrap()], s.root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Revoking the key that signed: refused on every path, with its fingerprint named.
    s.write(
        "etc/artifact-gate.toml",
        format!("[policy]\nrevoked_keys = [\"{ec}\", \"{rsa}\"]\n").as_bytes(),
    );
    let out = gate(&["validate", art.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(1));
    let words = String::from_utf8_lossy(&out.stderr);
    assert!(words.contains("revoked") && words.contains(&rsa), "{words}");
    let out = gate(&["install", "--no-daemon", art.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    assert_eq!(
        app_target(&s),
        None,
        "an artifact signed by a revoked key was installed"
    );
    // The daemon, with the same settings.
    let d = Daemon::start(
        s.root(),
        &format!("[policy]\nrevoked_keys = [\"{rsa}\"]\n"),
        env_of(&s),
    );
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", art.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["code"], "key_revoked", "{body}");
    assert_eq!(app_target(&s), None);
    // An entry that is not a fingerprint is a configuration error, not an ignored line.
    s.write(
        "etc/artifact-gate.toml",
        b"[policy]\nrevoked_keys = [\"md5:abcd\"]\n",
    );
    let out = gate(&["validate", art.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sha256:"));
}

// Item 4: scoped keys.

#[test]
fn a_key_signs_only_inside_its_scope() {
    let s = module_device();
    let key = crate::fixtures::fx().path("rsa.pub").display().to_string();
    let release = app_artifact(&s, "release-1", "one\n", &[]);
    let app = app_artifact(&s, "app-1", "app\n", &[]);
    let scope = |body: &str| {
        s.write(
            "etc/artifact-gate.toml",
            format!("[[policy.key]]\nkey = \"{key}\"\n{body}\n").as_bytes(),
        );
    };
    // Signed by the right key, but not a rootfs-image: refused, naming the key and the scope.
    scope("payload_types = [\"rootfs-image\"]");
    let out = gate(&["install", "--no-daemon", app.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(1));
    let words = String::from_utf8_lossy(&out.stderr);
    assert!(
        words.contains(&format!(
            "key '{key}' may only sign payload types rootfs-image"
        )) && words.contains("'single-file'"),
        "{words}"
    );
    assert_eq!(
        app_target(&s),
        None,
        "an out-of-scope artifact was installed"
    );
    // Names: app-* only.
    scope("payload_types = [\"single-file\"]\nartifact_names = [\"app-*\"]");
    let out = gate(&["validate", release.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name 'release-1' is outside it"));
    let out = gate(&["validate", app.to_str().unwrap()], s.root());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.contains("admitted by its scope (payload types single-file; artifact names app-*)"),
        "{line}"
    );
    // The daemon applies the same scope.
    let d = Daemon::start(
        s.root(),
        &format!("[[policy.key]]\nkey = \"{key}\"\nartifact_names = [\"app-*\"]\n"),
        env_of(&s),
    );
    let (_, body) = d.curl("PUT", "/v1/install", &["-T", release.to_str().unwrap()]);
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["code"], "key_out_of_scope", "{body}");
    assert_eq!(app_target(&s), None);
    drop(d);
    // A scope for a key that is not configured (a typo) is a configuration error.
    s.write(
        "etc/artifact-gate.toml",
        b"[[policy.key]]\nkey = \"/etc/mender/typo.pem\"\npayload_types = [\"rootfs-image\"]\n",
    );
    let out = gate(&["validate", app.to_str().unwrap()], s.root());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a configured verify key"));
}
