//! The verified spool (issue #16 item 6): with `[update] module_delivery = "spool"` an Update
//! Module never reads a byte of a payload file before that file matched the signed manifest.
//! The module under test records every byte it reads from its streams, as it reads them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{
    Art, Dialect, Scratch, app_artifact, app_target, gate, module_device, tar, untar,
};

/// A module that copies each stream it reads into `<root>/read/<file>`, byte by byte as it
/// reads, then installs nothing. `SupportsRollback` says no, so an install commits at once.
const RECORDER: &str = r#"#!/bin/sh
root="$(cd "$(dirname "$0")/../../.." && pwd)"
case "$1" in
  Download)
    mkdir -p "$root/read"
    while true; do
      line=$(cat stream-next)
      [ -z "$line" ] && break
      f=${line%% *}
      cat "$f" >> "$root/read/$(basename "$f")"
    done ;;
  ArtifactInstall) touch "$root/installed" ;;
  SupportsRollback) echo No ;;
esac
exit 0
"#;

/// Larger than the stream's 64 KiB hold-back, so streaming hands most of it over early.
const SIZE: usize = 300 * 1024;

fn device(update: &str) -> Scratch {
    let s = module_device();
    let module = s.write("share/modules/v3/single-file", RECORDER.as_bytes());
    std::fs::set_permissions(&module, std::fs::Permissions::from_mode(0o755)).unwrap();
    s.write(
        "etc/artifact-gate.toml",
        format!("[update]\n{update}").as_bytes(),
    );
    s
}

fn content() -> String {
    (0..SIZE)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// A validly signed artifact, and the same with one payload byte changed (manifest and
/// signature untouched).
fn artifacts(s: &Scratch) -> (PathBuf, PathBuf) {
    let good = app_artifact(s, "spooled", &content(), &["--compression", "none"]);
    let mut art = Art::from_bytes(&std::fs::read(&good).unwrap());
    let mut files = untar(art.get("data/0000.tar"));
    let file = files.iter_mut().find(|f| f.name == "app.conf").unwrap();
    file.data[1000] ^= 1;
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    let bad = s.write("tampered.mender", &art.bytes());
    (good, bad)
}

fn read_by_module(s: &Scratch) -> Option<u64> {
    std::fs::metadata(s.root().join("read/app.conf"))
        .ok()
        .map(|m| m.len())
}

fn words(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn install(s: &Scratch, art: &Path) -> Output {
    gate(&["install", "--no-daemon", art.to_str().unwrap()], s.root())
}

fn spool_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn streaming_hands_a_tampered_file_over_in_part_which_the_spool_prevents() {
    // The default, as Mender: the module has read most of the tampered file when the hash
    // fails (it never gets the file's end).
    let s = device("");
    let (_, bad) = artifacts(&s);
    let out = install(&s, &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(words(&out).contains("checksum mismatch"), "{}", words(&out));
    let streamed = read_by_module(&s).unwrap_or(0);
    assert!(
        streamed > 0 && streamed < SIZE as u64,
        "stream mode read {streamed} bytes"
    );
    // Spool mode: the same attack, and the module read nothing of that file.
    let s = device("module_delivery = \"spool\"\n");
    let (_, bad) = artifacts(&s);
    let out = install(&s, &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        words(&out).contains("checksum mismatch for 'data/0000/app.conf'"),
        "{}",
        words(&out)
    );
    assert_eq!(
        read_by_module(&s),
        None,
        "the module read an unverified byte"
    );
    assert!(!s.root().join("installed").exists());
    assert_eq!(
        spool_files(&s.root().join("var/artifact-gate/spool")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_spooled_payload_reaches_the_module_whole_once_verified() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let s = device(&format!(
        "module_delivery = \"spool\"\nspool_dir = \"{}\"\n",
        spool.display()
    ));
    let (good, bad) = artifacts(&s);
    let out = install(&s, &good);
    assert!(out.status.success(), "{}", words(&out));
    assert_eq!(read_by_module(&s), Some(SIZE as u64));
    assert_eq!(
        std::fs::read_to_string(s.root().join("read/app.conf")).unwrap(),
        content()
    );
    assert!(s.root().join("installed").exists());
    assert_eq!(
        spool_files(&spool),
        Vec::<PathBuf>::new(),
        "the spool kept a file"
    );
    let mode = std::fs::metadata(&spool).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // The daemon with the same settings refuses the tampered one the same way.
    std::fs::remove_dir_all(s.root().join("read")).unwrap();
    std::fs::remove_file(s.root().join("installed")).unwrap();
    let settings = std::fs::read_to_string(s.root().join("etc/artifact-gate.toml")).unwrap();
    let d = Daemon::start(s.root(), &settings, env_of(&s));
    let (code, body) = d.curl("PUT", "/v1/install", &["-T", bad.to_str().unwrap()]);
    assert_eq!(code, 200, "{body}");
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["class"], "rejected", "{body}");
    assert_eq!(
        read_by_module(&s),
        None,
        "the module read an unverified byte"
    );
    assert!(!s.root().join("installed").exists());
    assert_eq!(app_target(&s), None);
}

#[test]
fn a_file_the_spool_cannot_hold_is_refused_before_any_byte_of_it() {
    let s = device("module_delivery = \"spool\"\nmax_spool_bytes = 100000\n");
    let (good, _) = artifacts(&s);
    let out = install(&s, &good);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        words(&out).contains(&format!(
            "payload file 'app.conf' is {SIZE} bytes; the spool takes at most 100000 \
             ([update] max_spool_bytes)"
        )),
        "{}",
        words(&out)
    );
    assert_eq!(read_by_module(&s), None);
    // A disk too full: a 128 KiB tmpfs as the spool, in a mount namespace of its own.
    let s = device("module_delivery = \"spool\"\nspool_dir = \"/mnt/spool\"\n");
    let (good, _) = artifacts(&s);
    let script = format!(
        "mkdir -p /mnt && mount -t tmpfs -o size=128k tmpfs /mnt && exec {} install --no-daemon {}",
        env!("CARGO_BIN_EXE_artifact-gate"),
        good.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .envs(env_of(&s))
        .env(
            "ARTIFACT_GATE_CONFIG",
            s.root().join("etc/artifact-gate.toml"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", words(&out));
    assert!(
        words(&out).contains(&format!(
            "payload file 'app.conf' is {SIZE} bytes, but /mnt/spool has only"
        )),
        "{}",
        words(&out)
    );
    assert_eq!(read_by_module(&s), None);
}
