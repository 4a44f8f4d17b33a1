//! The Update Module v3 file tree and state calls, against the real modules from Debian's
//! mender-client package and small modules of our own that record or misbehave.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use artifact_gate::artifact::{self, CheckedHeader, DiscardSink};
use artifact_gate::install::module::{
    CurrentSystem, ModuleError, ModuleState, ModuleTree, RebootNeed, UpdateModule,
};

use crate::fixtures::fx;

/// Where Debian's mender-client installs its modules.
const DEBIAN_MODULES: &str = "/usr/share/mender/modules/v3";

fn header_of(fixture: &str, key: &str) -> CheckedHeader {
    let options = crate::fixtures::signed_by(key);
    artifact::read_artifact(&fx().bytes(fixture)[..], &options, &mut DiscardSink)
        .unwrap()
        .into_header()
}

/// A data dir with the real Debian modules copied in, plus room for our own.
fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules/v3");
    std::fs::create_dir_all(&modules).unwrap();
    for name in ["single-file", "directory", "script"] {
        let from = Path::new(DEBIAN_MODULES).join(name);
        assert!(
            from.is_file(),
            "{from:?} missing: install Debian's mender-client"
        );
        std::fs::copy(&from, modules.join(name)).unwrap();
    }
    let root = dir.path().to_owned();
    (dir, root)
}

fn own_module(data: &Path, name: &str, script: &str) {
    let path = data.join("modules/v3").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn current() -> CurrentSystem {
    CurrentSystem {
        artifact_name: "release-1".into(),
        artifact_group: String::new(),
        device_type: "beaglebone".into(),
    }
}

#[test]
fn tree_layout_follows_the_v3_file_api() {
    let header = header_of("mod-ec.mender", "ec.pub");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("payloads/0000/tree");
    std::fs::create_dir_all(root.join("stale")).unwrap();
    let tree = ModuleTree::prepare(&root, &header, &current()).unwrap();
    let read = |p: &str| std::fs::read_to_string(tree.path().join(p)).unwrap();
    assert_eq!(read("version"), "3\n");
    assert_eq!(read("current_artifact_name"), "release-1\n");
    assert_eq!(read("current_device_type"), "beaglebone\n");
    assert_eq!(read("header/artifact_name"), "mod-ec");
    assert_eq!(read("header/payload_type"), "directory");
    assert_eq!(read("header/meta-data"), "null");
    let info: serde_json::Value = serde_json::from_str(&read("header/header-info")).unwrap();
    let raw: serde_json::Value = serde_json::from_slice(header.raw_header_info()).unwrap();
    assert_eq!(info, raw);
    assert!(read("header/type-info").contains("\"type\": \"directory\""));
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(!root.join("stale").exists(), "an old tree must be removed");
}

#[test]
fn debian_modules_answer_their_queries() {
    let header = header_of("mod-rsa.mender", "rsa.pub");
    let (_keep, data) = data_dir();
    let tree_dir = tempfile::tempdir().unwrap();
    let tree = ModuleTree::prepare(&tree_dir.path().join("tree"), &header, &current()).unwrap();
    for name in ["single-file", "directory"] {
        let module = UpdateModule::locate(&data, name, Duration::from_secs(30)).unwrap();
        assert_eq!(
            module.needs_reboot(&tree).unwrap(),
            RebootNeed::No,
            "{name}"
        );
        assert!(module.supports_rollback(&tree).unwrap(), "{name}");
        assert!(!module.wants_file_sizes(&tree).unwrap(), "{name}");
    }
    let script = UpdateModule::locate(&data, "script", Duration::from_secs(30)).unwrap();
    assert!(!script.supports_rollback(&tree).unwrap());
}

#[test]
fn module_is_called_with_state_and_tree_as_working_directory() {
    let header = header_of("mod-rsa.mender", "rsa.pub");
    let (_keep, data) = data_dir();
    let log = data.join("calls.log");
    own_module(
        &data,
        "recorder",
        &format!(
            "echo \"$1 $2 $(pwd)\" >> {}\n[ \"$1\" = NeedsArtifactReboot ] && echo Automatic\nexit 0",
            log.display()
        ),
    );
    let tree_dir = tempfile::tempdir().unwrap();
    let tree = ModuleTree::prepare(&tree_dir.path().join("tree"), &header, &current()).unwrap();
    let module = UpdateModule::locate(&data, "recorder", Duration::from_secs(30)).unwrap();
    assert_eq!(module.needs_reboot(&tree).unwrap(), RebootNeed::Automatic);
    module.call(ModuleState::Cleanup, &tree).unwrap();
    let t = tree.path().display().to_string();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("NeedsArtifactReboot {t} {t}\nCleanup {t} {t}\n")
    );
}

#[test]
fn failures_protocol_errors_and_timeouts() {
    let header = header_of("mod-rsa.mender", "rsa.pub");
    let (_keep, data) = data_dir();
    let tree_dir = tempfile::tempdir().unwrap();
    let tree = ModuleTree::prepare(&tree_dir.path().join("tree"), &header, &current()).unwrap();

    own_module(&data, "fails", "echo 'disk full' >&2; exit 3");
    let m = UpdateModule::locate(&data, "fails", Duration::from_secs(30)).unwrap();
    match m.call(ModuleState::ArtifactInstall, &tree) {
        Err(ModuleError::Failed {
            state,
            code,
            stderr,
        }) => {
            assert_eq!(
                (state, code, stderr.as_str()),
                ("ArtifactInstall", 3, "disk full")
            );
        }
        other => panic!("unexpected {other:?}"),
    }

    own_module(&data, "maybe", "echo Maybe");
    let m = UpdateModule::locate(&data, "maybe", Duration::from_secs(30)).unwrap();
    let r = m.supports_rollback(&tree);
    assert!(matches!(r, Err(ModuleError::Protocol { .. })), "{r:?}");
    own_module(&data, "chatty", "echo Yes; echo also-this");
    let m = UpdateModule::locate(&data, "chatty", Duration::from_secs(30)).unwrap();
    assert!(matches!(
        m.supports_rollback(&tree),
        Err(ModuleError::Protocol { .. })
    ));

    let pidfile = data.join("child.pid");
    own_module(
        &data,
        "hangs",
        &format!("sleep 60 & echo $! > {}\nwait", pidfile.display()),
    );
    let m = UpdateModule::locate(&data, "hangs", Duration::from_secs(1)).unwrap();
    assert!(matches!(
        m.call(ModuleState::ArtifactInstall, &tree),
        Err(ModuleError::TimedOut { seconds: 1, .. })
    ));
    // The whole process group is killed, not just the shell.
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    let gone = (0..200).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = state.split(' ').nth(2).is_some_and(|s| s != "Z");
        if alive {
            std::thread::sleep(Duration::from_millis(10));
        }
        !alive
    });
    assert!(gone, "the module's child {pid} survived the timeout");

    assert!(matches!(
        UpdateModule::locate(&data, "rootfs-image", Duration::from_secs(1)),
        Err(ModuleError::NotFound { .. })
    ));
}
