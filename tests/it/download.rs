//! `Download` into Update Modules: the stream protocol with a module of our own, the `files/`
//! fallback with Debian's single-file module, and what a module sees of a tampered payload.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use artifact_gate::artifact::{self, ReadError, ReadOptions, Rejection};
use artifact_gate::install::download::{Delivery, ModuleSetup, ModuleSink};
use artifact_gate::install::module::CurrentSystem;

use crate::fixtures::{Art, Dialect, fx, tar, untar};

/// Reads streams as the v3 file API describes, copying each to tmp/ and logging it once its
/// stream ended.
const STREAMING_MODULE: &str = r#"#!/bin/sh
set -e
case "$1" in
  ProvidePayloadFileSizes) echo Yes ;;
  DownloadWithFileSizes)
    while true; do
      line=$(cat stream-next)
      [ -z "$line" ] && break
      set -- $line
      cat "$1" > "tmp/$(basename "$1")"
      echo "got $1 $2" >> tmp/log
    done ;;
esac
"#;

fn options() -> ReadOptions {
    crate::fixtures::signed_by("rsa.pub")
}

/// A data dir whose `single-file` module is either Debian's or `script`.
fn setup(dir: &Path, script: Option<&str>) -> ModuleSetup {
    let modules = dir.join("data/modules/v3");
    std::fs::create_dir_all(&modules).unwrap();
    let target = modules.join("single-file");
    match script {
        Some(text) => std::fs::write(&target, text).unwrap(),
        None => {
            std::fs::copy("/usr/share/mender/modules/v3/single-file", &target).unwrap();
        }
    }
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    ModuleSetup {
        data_dir: dir.join("data"),
        tree_root: dir.join("var/modules/v3/payloads/0000/tree"),
        current: CurrentSystem {
            artifact_name: "release-1".into(),
            artifact_group: String::new(),
            device_type: "beaglebone".into(),
        },
        timeout: Duration::from_secs(60),
        spool: None,
    }
}

#[test]
fn files_stream_through_fifos_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ModuleSink::new(setup(dir.path(), Some(STREAMING_MODULE)));
    let proof =
        artifact::read_artifact(&fx().bytes("mod-rsa.mender")[..], &options(), &mut sink).unwrap();
    let (_, tree, delivery) = sink.finish(&proof).unwrap();
    assert_eq!(delivery, Delivery::Streams);
    let tmp = tree.path().join("tmp");
    assert_eq!(
        std::fs::read(tmp.join("z2.bin")).unwrap(),
        fx().bytes("z2.bin")
    );
    assert_eq!(
        std::fs::read(tmp.join("f1.txt")).unwrap(),
        fx().bytes("f1.txt")
    );
    assert_eq!(
        std::fs::read_to_string(tmp.join("log")).unwrap(),
        "got streams/z2.bin 100000\ngot streams/f1.txt 27\n"
    );
}

#[test]
fn debian_single_file_module_gets_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ModuleSink::new(setup(dir.path(), None));
    let proof =
        artifact::read_artifact(&fx().bytes("mod-rsa.mender")[..], &options(), &mut sink).unwrap();
    let (_, tree, delivery) = sink.finish(&proof).unwrap();
    assert_eq!(delivery, Delivery::Files);
    let files = tree.path().join("files");
    assert_eq!(
        std::fs::read(files.join("z2.bin")).unwrap(),
        fx().bytes("z2.bin")
    );
    assert_eq!(
        std::fs::read(files.join("f1.txt")).unwrap(),
        fx().bytes("f1.txt")
    );
}

#[test]
fn the_download_ends_only_with_the_proof_of_its_own_read() {
    // The proof of another verified artifact does not end this download: the module never
    // sees the end of its streams, and the sink's drop kills it.
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ModuleSink::new(setup(dir.path(), Some(STREAMING_MODULE)));
    artifact::read_artifact(&fx().bytes("mod-rsa.mender")[..], &options(), &mut sink).unwrap();
    let other = artifact::read_artifact(
        &fx().bytes("mod-other.mender")[..],
        &options(),
        &mut artifact::DiscardSink,
    )
    .unwrap();
    let err = sink.finish(&other).unwrap_err();
    assert!(
        matches!(
            err,
            artifact_gate::install::download::DownloadError::NotThisArtifact
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "refusing to finish the download: the verified artifact is not the one streamed"
    );
}

#[test]
fn a_tampered_file_never_reaches_its_end_in_the_module() {
    let mut art = Art::open("mod-none.mender");
    let mut files = untar(art.get("data/0000.tar"));
    let z2 = files.iter_mut().find(|m| m.name == "z2.bin").unwrap();
    z2.data[50_000] ^= 0x01;
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));

    let dir = tempfile::tempdir().unwrap();
    let mut sink = ModuleSink::new(setup(dir.path(), Some(STREAMING_MODULE)));
    let err = artifact::read_artifact(&art.bytes()[..], &options(), &mut sink).unwrap_err();
    assert!(
        matches!(&err, ReadError::Rejected(Rejection::ChecksumMismatch { entry, .. }) if entry == "data/0000/z2.bin"),
        "{err}"
    );
    let tree = dir.path().join("var/modules/v3/payloads/0000/tree");
    drop(sink); // kills the module before its open stream is closed
    let log = std::fs::read_to_string(tree.join("tmp/log")).unwrap_or_default();
    // f1.txt came first and verified; z2.bin's stream never ended for the module.
    assert_eq!(log, "got streams/f1.txt 27\n");
}

#[test]
fn a_module_failing_its_download_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let script = "#!/bin/sh\n[ \"$1\" = Download ] && { echo 'no space' >&2; exit 4; }\nexit 0\n";
    let mut sink = ModuleSink::new(setup(dir.path(), Some(script)));
    let err = artifact::read_artifact(&fx().bytes("mod-rsa.mender")[..], &options(), &mut sink)
        .unwrap_err();
    assert!(matches!(err, ReadError::Sink(_)), "{err}");
    assert!(
        err.to_string()
            .contains("Download failed (exit 4): no space"),
        "{err}"
    );
}
