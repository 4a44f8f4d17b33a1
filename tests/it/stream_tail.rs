//! A module that writes as it reads never holds every byte of a tampered file (issue #12 item 3):
//! the end of each stream is held back until that file's SHA-256 matched the signed manifest.
//! The module here copies each stream to a file as it arrives, the way a rootfs-style
//! `cat stream > partition` module does.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::fixtures::{
    Art, Dialect, Scratch, assert_nothing_left, fx, keyed_device, run_ok, tar, tree_of, untar,
};

/// Copies every stream to `<sandbox>/copy-<name>` while reading it.
const COPIER: &str = r#"#!/bin/sh
root="$(dirname "$0")/../../.."
case "$1" in
  Download)
    while true; do
      line=$(cat stream-next)
      [ -z "$line" ] && break
      cat "$line" > "$root/copy-$(basename "$line")"
    done ;;
esac
exit 0
"#;

/// The held-back tail (`HOLD_BACK` in `src/install/download.rs`).
const HOLD_BACK: usize = 64 * 1024;

/// What can be sent and still not be in the module's copy when it is killed: a full FIFO (Linux's
/// default pipe capacity, 16 pages) and one read of coreutils `cat` (128 KiB) not yet written out.
/// On a loaded machine the module lags by up to this much; it is a bound, not a timing.
const IN_FLIGHT: usize = 64 * 1024 + 128 * 1024;

fn device() -> Scratch {
    let s = keyed_device();
    let module = s.write("share/modules/v3/single-file", COPIER.as_bytes());
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o755)).unwrap();
    s
}

/// A signed, uncompressed single-file artifact carrying 1 MiB of random bytes as `big.bin`.
fn big_artifact(s: &Scratch) -> Vec<u8> {
    let dir = s.root().join("build");
    std::fs::create_dir_all(&dir).unwrap();
    let big: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    run_ok(
        Command::new("mender-artifact")
            .current_dir(&dir)
            .args(["write", "module-image", "-T", "single-file", "-n", "big"])
            .args(["-t", "beaglebone", "-f", "big.bin", "-o", "big.mender"])
            .args(["--compression", "none", "-k"])
            .arg(fx().path("rsa.key")),
    );
    std::fs::read(dir.join("big.mender")).unwrap()
}

#[test]
fn a_tampered_file_never_reaches_a_module_whole_whichever_byte_changed() {
    let s = device();
    let genuine = big_artifact(&s);
    let size = 1024 * 1024;
    for at in [0, size / 2, size - 1] {
        let mut art = Art::from_bytes(&genuine);
        let mut files = untar(art.get("data/0000.tar"));
        files[0].data[at] ^= 0x5a;
        let tampered = files[0].data.clone();
        art.set("data/0000.tar", tar(&files, Dialect::Ustar));
        let path = s.write("tampered.mender", &art.bytes());
        let copy = s.root().join("copy-big.bin");
        let _ = std::fs::remove_file(&copy);
        let datastore = s.root().join("var");
        let before = tree_of(&datastore);

        let v = s.run(&["install", path.to_str().unwrap()]);
        assert_eq!(v.code, 1, "byte {at}: {}", v.stderr);
        assert!(
            v.stderr
                .contains("checksum mismatch for 'data/0000/big.bin'"),
            "byte {at}: {}",
            v.stderr
        );
        let got = std::fs::read(&copy).unwrap_or_default();
        assert_ne!(
            got, tampered,
            "byte {at}: the module holds the whole tampered file"
        );
        // What it got is the start of the stream, and all but the held-back tail (and what was
        // still in flight when the module was killed) came: the file really streamed, and only
        // its end was withheld.
        assert!(tampered.starts_with(&got), "byte {at}: not a prefix");
        assert!(
            got.len() >= size - 2 * HOLD_BACK - IN_FLIGHT && got.len() < size,
            "byte {at}: the module got {} of {size} bytes",
            got.len()
        );
        assert_nothing_left(&before, &datastore, &format!("byte {at}"));
        assert_eq!(s.run(&["show-artifact"]).stdout, "Unknown\n", "byte {at}");
    }

    // The same device and module take the genuine artifact whole, so the loop above cannot pass
    // vacuously.
    let path = s.write("genuine.mender", &genuine);
    let v = s.run(&["install", path.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    let copy = std::fs::read(s.root().join("copy-big.bin")).unwrap();
    assert_eq!(
        copy,
        untar(Art::from_bytes(&genuine).get("data/0000.tar"))[0].data
    );
}
