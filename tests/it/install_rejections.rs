//! Every kind of verifier rejection, through `install`: the Update Module may have been started
//! for Download, but never gets `ArtifactInstall`, nothing is left pending and the provides stay.

use std::os::unix::fs::PermissionsExt;

use crate::fixtures::{Art, Dialect, Member, Scratch, Signer, fx, sha256_hex, tar, untar};

/// Logs every state it is called with; reads streams like a real module.
const RECORDER: &str = r#"#!/bin/sh
echo "$1" >> "$(dirname "$0")/../../../calls.log"
case "$1" in
  Download)
    while true; do
      line=$(cat stream-next)
      [ -z "$line" ] && break
      cat "$line" > /dev/null
    done ;;
  SupportsRollback) echo Yes ;;
esac
exit 0
"#;

fn device() -> Scratch {
    let s = Scratch::new();
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}"}}"#,
            fx().path("rsa.pub").display()
        )
        .as_bytes(),
    );
    s.write("var/device_type", b"device_type=beaglebone\n");
    let module = s.write("share/modules/v3/single-file", RECORDER.as_bytes());
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o755)).unwrap();
    s
}

fn variants() -> Vec<(&'static str, Vec<u8>)> {
    let plain = || Art::open("mod-none.mender");
    let signer = Signer::Rsa("rsa.key");
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();

    out.push(("wrong key", {
        let mut a = plain();
        a.resign(Signer::Rsa("rsa2.key"));
        a.bytes()
    }));
    out.push(("unsigned", fx().bytes("mod-unsigned.mender")));
    out.push(("flipped payload byte", {
        let mut a = plain();
        let mut files = untar(a.get("data/0000.tar"));
        files[1].data[7] ^= 1;
        a.set("data/0000.tar", tar(&files, Dialect::Ustar));
        a.bytes()
    }));
    out.push(("flipped header byte", {
        let mut a = plain();
        let mut h = untar(a.get("header.tar"));
        h[0].data.push(b' ');
        a.set("header.tar", tar(&h, Dialect::Ustar));
        a.bytes()
    }));
    out.push(("unlisted payload file", {
        let mut a = plain();
        let mut files = untar(a.get("data/0000.tar"));
        files.push(Member::file("evil", b"x"));
        a.set("data/0000.tar", tar(&files, Dialect::Ustar));
        a.bytes()
    }));
    out.push(("listed file missing", {
        let mut a = plain();
        let files: Vec<Member> = untar(a.get("data/0000.tar")).into_iter().skip(1).collect();
        a.set("data/0000.tar", tar(&files, Dialect::Ustar));
        a.bytes()
    }));
    out.push(("second payload", {
        let mut a = plain();
        let data = a.get("data/0000.tar").to_vec();
        a.members.push(Member::file("data/0001.tar", &data));
        a.bytes()
    }));
    out.push(("trailing garbage", {
        let mut b = plain().bytes();
        b.extend_from_slice(b"garbage");
        b
    }));
    out.push(("truncated", {
        let b = plain().bytes();
        b[..b.len() - 700].to_vec()
    }));
    out.push(("replayed signature", {
        let mut a = plain();
        a.set(
            "manifest.sig",
            Art::open("mod-other.mender").get("manifest.sig").to_vec(),
        );
        a.bytes()
    }));
    out.push(("dotdot payload name", {
        let mut a = plain();
        let mut files = untar(a.get("data/0000.tar"));
        files.push(Member::file("../x", b"x"));
        a.set("data/0000.tar", tar(&files, Dialect::Ustar));
        let text = format!("{}{}  data/0000/../x\n", a.manifest(), sha256_hex(b"x"));
        a.set_manifest(&text, signer);
        a.bytes()
    }));
    out
}

#[test]
fn no_rejected_artifact_reaches_artifact_install() {
    for (what, bytes) in variants() {
        let s = device();
        let path = s.write("bad.mender", &bytes);
        let v = s.run(&["install", path.to_str().unwrap()]);
        assert_eq!(v.code, 1, "{what}: {}", v.stderr);
        let calls = std::fs::read_to_string(s.root().join("calls.log")).unwrap_or_default();
        assert!(
            !calls.contains("ArtifactInstall"),
            "{what}: module saw {calls:?}"
        );
        assert_eq!(s.run(&["commit"]).code, 2, "{what}: nothing may be pending");
        assert_eq!(s.run(&["show-artifact"]).stdout, "Unknown\n", "{what}");
    }
}

#[test]
fn the_genuine_artifact_does_reach_it() {
    // The same harness with the untouched artifact, so the test above cannot pass vacuously.
    let s = device();
    let v = s.run(&["install", fx().path("mod-none.mender").to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let calls = std::fs::read_to_string(s.root().join("calls.log")).unwrap();
    assert!(
        calls.contains("Download\n") && calls.contains("ArtifactInstall\n"),
        "{calls}"
    );
}
