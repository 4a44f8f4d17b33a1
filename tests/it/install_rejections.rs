//! Every kind of verifier rejection, through `install`, each refused for its own reason. Through
//! an Update Module: the module may have been started for Download, but never gets
//! `ArtifactInstall`. Through the built-in A/B installer: the boot variables never change and the
//! active partition is never written. Either way nothing is left pending, the provides stay, and
//! the datastore holds no file written for the rejected artifact (the module's tree, its
//! `files/` and `streams/`, are removed after the protocol's `Cleanup`).

use std::os::unix::fs::PermissionsExt;

use crate::fixtures::{
    Art, Dialect, Member, Scratch, Signer, assert_nothing_left, assert_operator_words, fx, gunzip,
    gzip, pax_record, sha256_hex, tar, tar_with_pax, tree_of, untar,
};

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
    let s = crate::fixtures::keyed_device();
    let module = s.write("share/modules/v3/single-file", RECORDER.as_bytes());
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o755)).unwrap();
    s
}

/// The artifact under attack: a fixture and the name of its payload member.
#[derive(Clone, Copy)]
struct Base {
    fixture: &'static str,
    data: &'static str,
}

const MODULE: Base = Base {
    fixture: "mod-none.mender",
    data: "data/0000.tar",
};

const ROOTFS: Base = Base {
    fixture: "rootfs-rsa.mender",
    data: "data/0000.tar.gz",
};

impl Base {
    fn open(self) -> Art {
        Art::open(self.fixture)
    }

    fn gzipped(self) -> bool {
        self.data.ends_with(".gz")
    }

    fn payload(self, a: &Art) -> Vec<Member> {
        let raw = a.get(self.data);
        if self.gzipped() {
            untar(&gunzip(raw))
        } else {
            untar(raw)
        }
    }

    fn set_payload(self, a: &mut Art, files: &[Member]) {
        let raw = tar(files, Dialect::Ustar);
        a.set(self.data, if self.gzipped() { gzip(&raw) } else { raw });
    }
}

/// Each attack as (what, artifact, why it must be refused).
fn variants(base: Base) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let plain = || base.open();
    let signer = Signer::Rsa("rsa.key");
    let mut out: Vec<(&'static str, Vec<u8>, &'static str)> = Vec::new();

    out.push((
        "wrong key",
        {
            let mut a = plain();
            a.resign(Signer::Rsa("rsa2.key"));
            a.bytes()
        },
        "RSA signature does not match the manifest",
    ));
    out.push((
        "unsigned",
        {
            let mut a = plain();
            a.members.retain(|m| m.name != "manifest.sig");
            a.bytes()
        },
        "artifact is not signed (no manifest.sig)",
    ));
    out.push((
        "flipped payload byte",
        {
            let mut a = plain();
            let mut files = base.payload(&a);
            let last = files.len() - 1;
            files[last].data[7] ^= 1;
            base.set_payload(&mut a, &files);
            a.bytes()
        },
        "checksum mismatch for 'data/0000/",
    ));
    out.push((
        "flipped header byte",
        {
            let mut a = plain();
            let header = if a.members.iter().any(|m| m.name == "header.tar.gz") {
                "header.tar.gz"
            } else {
                "header.tar"
            };
            let raw = a.get(header).to_vec();
            let mut h = untar(&if header.ends_with(".gz") {
                gunzip(&raw)
            } else {
                raw
            });
            h[0].data.push(b' ');
            let t = tar(&h, Dialect::Ustar);
            a.set(header, if header.ends_with(".gz") { gzip(&t) } else { t });
            a.bytes()
        },
        "checksum mismatch for 'header.tar",
    ));
    out.push((
        "unlisted payload file",
        {
            let mut a = plain();
            let mut files = base.payload(&a);
            files.push(Member::file("evil", b"x"));
            base.set_payload(&mut a, &files);
            a.bytes()
        },
        "payload file 'data/0000/evil' is not listed in the manifest",
    ));
    out.push((
        "listed file missing",
        {
            let mut a = plain();
            let files: Vec<Member> = base.payload(&a).into_iter().skip(1).collect();
            base.set_payload(&mut a, &files);
            a.bytes()
        },
        "manifest lists files the payload does not contain: 'data/0000/",
    ));
    out.push((
        "second payload",
        {
            let mut a = plain();
            let data = a.get(base.data).to_vec();
            let second = base.data.replace("0000", "0001");
            a.members.push(Member::file(&second, &data));
            a.bytes()
        },
        "a second payload 'data/0001.tar",
    ));
    out.push((
        "trailing garbage",
        {
            let mut b = plain().bytes();
            b.extend_from_slice(b"garbage");
            b
        },
        "non-zero data 512 bytes after the end-of-archive marker",
    ));
    out.push((
        "truncated",
        {
            let b = plain().bytes();
            b[..b.len() - 700].to_vec()
        },
        "malformed: failed to read entire block",
    ));
    out.push((
        "replayed signature",
        {
            let mut a = plain();
            let other = if base.fixture == "mod-other.mender" {
                "mod-none.mender"
            } else {
                "mod-other.mender"
            };
            a.set(
                "manifest.sig",
                Art::open(other).get("manifest.sig").to_vec(),
            );
            a.bytes()
        },
        "RSA signature does not match the manifest",
    ));
    out.push((
        "dotdot payload name",
        {
            let mut a = plain();
            let mut files = base.payload(&a);
            files.push(Member::file("../x", b"x"));
            base.set_payload(&mut a, &files);
            let text = format!("{}{}  data/0000/../x\n", a.manifest(), sha256_hex(b"x"));
            a.set_manifest(&text, signer);
            a.bytes()
        },
        "payload path 'data/0000/../x': name contains a '..' or '.' path component",
    ));
    out.push((
        "payload name outside mender-artifact's characters",
        {
            let mut a = plain();
            let mut files = base.payload(&a);
            files.push(Member::file("test_update*", b"x"));
            base.set_payload(&mut a, &files);
            let text = format!(
                "{}{}  data/0000/test_update*\n",
                a.manifest(),
                sha256_hex(b"x")
            );
            a.set_manifest(&text, signer);
            a.bytes()
        },
        "payload path 'data/0000/test_update*': payload file names may hold only",
    ));
    out.push((
        "malformed PAX size in the payload",
        {
            let mut a = plain();
            let files = base.payload(&a);
            let raw = tar_with_pax(&files, files.len() - 1, &pax_record("size=-1"));
            a.set(base.data, if base.gzipped() { gzip(&raw) } else { raw });
            a.bytes()
        },
        "record 1 ('size'): value '-1' is not a non-negative decimal number",
    ));
    out
}

#[test]
fn no_rejected_artifact_reaches_artifact_install() {
    for (what, bytes, why) in variants(MODULE) {
        let s = device();
        let path = s.write("bad.mender", &bytes);
        let datastore = s.root().join("var");
        let before = tree_of(&datastore);
        let v = s.run(&["install", path.to_str().unwrap()]);
        assert_eq!(v.code, 1, "{what}: {}", v.stderr);
        assert!(
            v.stderr.contains(why),
            "{what}: expected {why:?} in {}",
            v.stderr
        );
        assert_operator_words(&v.stderr);
        assert_nothing_left(&before, &datastore, what);
        let calls = std::fs::read_to_string(s.root().join("calls.log")).unwrap_or_default();
        assert!(
            !calls.contains("ArtifactInstall"),
            "{what}: module saw {calls:?}"
        );
        // Spec §8.2: a failed Download runs only Cleanup (once the module was started for it);
        // ArtifactFailure belongs to failures after ArtifactInstall.
        assert!(
            !calls.contains("ArtifactFailure"),
            "{what}: module saw {calls:?}"
        );
        if calls.contains("Download\n") {
            assert!(
                calls.ends_with("Cleanup\n"),
                "{what}: the module was not cleaned up: {calls:?}"
            );
        }
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

#[test]
fn no_rejected_artifact_switches_the_boot_partition() {
    for (what, bytes, why) in variants(ROOTFS) {
        let d = crate::device::Device::new(crate::device::PART);
        let path = d.s.write("bad.mender", &bytes);
        let datastore = d.s.root().join("var");
        let before = tree_of(&datastore);
        let v = d.run(&["install", path.to_str().unwrap()]);
        assert_eq!(v.code, 1, "{what}: {}", v.stderr);
        assert!(
            v.stderr.contains(why),
            "{what}: expected {why:?} in {}",
            v.stderr
        );
        assert_operator_words(&v.stderr);
        assert_nothing_left(&before, &datastore, what);
        assert_eq!(
            d.boot_vars(),
            (Some("2".into()), Some("0".into())),
            "{what}: the boot variables must not change"
        );
        assert!(
            d.part(2).iter().all(|b| *b == 0xaa),
            "{what}: the active partition is never written"
        );
        assert_eq!(d.run(&["commit"]).code, 2, "{what}: nothing may be pending");
        assert_eq!(d.run(&["show-artifact"]).stdout, "Unknown\n", "{what}");
    }
    // The same harness accepts the genuine artifact, so the loop above cannot pass vacuously.
    let d = crate::device::Device::new(crate::device::PART);
    let v = d.run(&["install", fx().path(ROOTFS.fixture).to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("1".into())));
}
