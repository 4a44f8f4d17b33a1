//! `install`, `commit` and `rollback` end to end in a sandbox root, with Debian's single-file
//! Update Module doing the real work.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::{Art, Dialect, Scratch, Verdict, fx, tar, untar};

/// A sandbox device: mender.conf naming the RSA key, a device_type, Debian's modules.
fn device() -> Scratch {
    crate::fixtures::module_device()
}

/// A single-file artifact that puts `content` at `<sandbox>/target/app.conf`.
fn single_file_artifact(s: &Scratch, name: &str, content: &str) -> PathBuf {
    artifact_with_scripts(s, name, content, &[])
}

/// Like [`single_file_artifact`], carrying state scripts given as (name, shell body).
fn artifact_with_scripts(
    s: &Scratch,
    name: &str,
    content: &str,
    scripts: &[(&str, String)],
) -> PathBuf {
    let files = [
        (
            "dest_dir",
            s.root().join("target").display().to_string().into_bytes(),
        ),
        ("filename", b"app.conf".to_vec()),
        ("permissions", b"644".to_vec()),
        ("app.conf", content.as_bytes().to_vec()),
    ];
    build_artifact(s, name, "single-file", &files, scripts)
}

fn target(s: &Scratch) -> Option<String> {
    std::fs::read_to_string(s.root().join("target/app.conf")).ok()
}

fn run(s: &Scratch, args: &[&str]) -> Verdict {
    s.run(args)
}

#[test]
fn install_then_commit_updates_the_file_and_the_provides() {
    let s = device();
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("Installed, but not committed."),
        "{}",
        v.stdout
    );
    assert_eq!(target(&s).as_deref(), Some("version 1\n"));
    assert_eq!(
        run(&s, &["show-artifact"]).stdout,
        "Unknown\n",
        "provides change only at commit"
    );

    let v = run(&s, &["commit"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(run(&s, &["show-artifact"]).stdout, "app-1\n");
    assert_eq!(
        run(&s, &["status"]).stdout,
        "Installed artifact: app-1\nPending install: none\n"
    );
    let provides = run(&s, &["show-provides"]).stdout;
    assert!(provides.contains("artifact_name=app-1\n"), "{provides}");
    assert!(
        provides.contains("rootfs-image.single-file.version=app-1\n"),
        "{provides}"
    );

    let v = run(&s, &["commit"]);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(
        v.stderr.contains("There is nothing to commit"),
        "{}",
        v.stderr
    );
}

#[test]
fn rollback_restores_the_previous_file_and_keeps_the_provides() {
    let s = device();
    let one = single_file_artifact(&s, "app-1", "version 1\n");
    let two = single_file_artifact(&s, "app-2", "version 2\n");
    assert_eq!(run(&s, &["install", one.to_str().unwrap()]).code, 0);
    assert_eq!(run(&s, &["commit"]).code, 0);
    assert_eq!(run(&s, &["install", two.to_str().unwrap()]).code, 0);
    assert_eq!(target(&s).as_deref(), Some("version 2\n"));

    let busy = run(&s, &["install", one.to_str().unwrap()]);
    assert_eq!(busy.code, 1);
    assert!(
        busy.stderr.contains("update already in progress (app-2)"),
        "{}",
        busy.stderr
    );

    let v = run(&s, &["rollback"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(target(&s).as_deref(), Some("version 1\n"));
    assert_eq!(run(&s, &["show-artifact"]).stdout, "app-1\n");
    assert_eq!(run(&s, &["rollback"]).code, 2);
}

#[test]
fn a_tampered_payload_installs_nothing() {
    let s = device();
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let mut opened = Art {
        members: untar(&std::fs::read(&art).unwrap()),
    };
    let mut files = untar(&crate::fixtures::gunzip(opened.get("data/0000.tar.gz")));
    let app = files.iter_mut().find(|m| m.name == "app.conf").unwrap();
    app.data = b"version 666\n".to_vec();
    opened.set(
        "data/0000.tar.gz",
        crate::fixtures::gzip(&tar(&files, Dialect::Ustar)),
    );
    let bad = s.write("bad.mender", &opened.bytes());
    let v = run(&s, &["install", bad.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("checksum mismatch for 'data/0000/app.conf'"),
        "{}",
        v.stderr
    );
    assert_eq!(target(&s), None, "nothing may be installed");
    assert_eq!(run(&s, &["commit"]).code, 2, "no install may be pending");
    assert_eq!(run(&s, &["show-artifact"]).stdout, "Unknown\n");
}

#[test]
fn device_checks_come_before_any_module_runs() {
    let s = device();
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    s.write("var/device_type", b"device_type=raspberrypi4\n");
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("not for 'raspberrypi4'"), "{}", v.stderr);
    assert!(
        !s.root().join("var/modules").exists(),
        "no module tree may be prepared"
    );

    std::fs::remove_file(s.root().join("var/device_type")).unwrap();
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("device type file"), "{}", v.stderr);
    assert_eq!(target(&s), None);
}

#[test]
fn depends_are_checked_against_the_provides() {
    let s = device();
    let dir = s.root().join("build");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f"), "x").unwrap();
    let out = dir.join("dep.mender");
    let status = Command::new("mender-artifact")
        .current_dir(&dir)
        .args([
            "write",
            "module-image",
            "-T",
            "single-file",
            "-n",
            "dep",
            "-t",
            "beaglebone",
        ])
        .args(["--artifact-name-depends", "app-0", "-f", "f"])
        .args([
            "-k",
            fx().path("rsa.key").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let v = run(&s, &["install", out.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("artifact depends on 'artifact_name' being one of 'app-0'"),
        "{}",
        v.stderr
    );
}

#[test]
fn bootstrap_artifact_sets_the_provides_at_once() {
    let s = device();
    let v = run(
        &s,
        &["install", fx().path("boot-gz.mender").to_str().unwrap()],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(
        v.stdout.contains("Installed and committed."),
        "{}",
        v.stdout
    );
    assert_eq!(run(&s, &["show-artifact"]).stdout, "boot-gz\n");
}

#[test]
fn rootfs_images_need_both_partitions_configured() {
    let s = device();
    let v = run(
        &s,
        &["install", fx().path("rootfs-rsa.mender").to_str().unwrap()],
    );
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("need RootfsPartA and RootfsPartB"),
        "{}",
        v.stderr
    );
}

fn logging(log: &Path, name: &str) -> (String, String) {
    let n = name.to_owned();
    (n.clone(), format!("echo {n} >> {}", log.display()))
}

#[test]
fn state_scripts_from_artifact_and_device_run_in_order() {
    let s = device();
    let log = s.root().join("scripts.log");
    let scripts: Vec<(String, String)> = [
        "ArtifactInstall_Enter_00",
        "ArtifactInstall_Leave_00",
        "ArtifactCommit_Enter_00",
        "ArtifactCommit_Leave_00",
    ]
    .iter()
    .map(|n| logging(&log, n))
    .collect();
    let refs: Vec<(&str, String)> = scripts
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let art = artifact_with_scripts(&s, "app-1", "version 1\n", &refs);
    let device_script = s.write(
        "etc/scripts/ArtifactInstall_Enter_05_device",
        format!("#!/bin/sh\necho device >> {}\n", log.display()).as_bytes(),
    );
    std::fs::set_permissions(
        &device_script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // An editor backup next to it is not a script.
    s.write(
        "etc/scripts/ArtifactInstall_Enter_05_device~",
        b"#!/bin/sh\nexit 1\n",
    );

    assert_eq!(run(&s, &["install", art.to_str().unwrap()]).code, 0);
    assert_eq!(run(&s, &["commit"]).code, 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "ArtifactInstall_Enter_00\ndevice\nArtifactInstall_Leave_00\nArtifactCommit_Enter_00\nArtifactCommit_Leave_00\n"
    );
}

#[test]
fn a_failing_enter_script_stops_the_install_and_runs_the_error_path() {
    let s = device();
    let log = s.root().join("scripts.log");
    let scripts = [
        (
            "ArtifactInstall_Enter_00",
            format!("echo enter >> {}; exit 1", log.display()),
        ),
        (
            "ArtifactInstall_Error_00",
            format!("echo error >> {}", log.display()),
        ),
        (
            "ArtifactFailure_Enter_00",
            format!("echo failure >> {}", log.display()),
        ),
    ];
    let art = artifact_with_scripts(&s, "app-1", "version 1\n", &scripts);
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("ArtifactInstall_Enter_00 failed (exit 1)"),
        "{}",
        v.stderr
    );
    assert_eq!(
        target(&s),
        None,
        "the module's ArtifactInstall must not run"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "enter\nerror\nfailure\n"
    );
    assert_eq!(run(&s, &["commit"]).code, 2, "nothing may be pending");
}

/// A module-image artifact of `module` carrying `files` (name, content).
fn module_artifact(s: &Scratch, name: &str, module: &str, files: &[(&str, Vec<u8>)]) -> PathBuf {
    build_artifact(s, name, module, files, &[])
}

/// Writes a signed module-image artifact with the real mender-artifact.
fn build_artifact(
    s: &Scratch,
    name: &str,
    module: &str,
    files: &[(&str, Vec<u8>)],
    scripts: &[(&str, String)],
) -> PathBuf {
    let dir = s.root().join(format!("build-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("mender-artifact");
    cmd.current_dir(&dir).args([
        "write",
        "module-image",
        "-T",
        module,
        "-n",
        name,
        "-t",
        "beaglebone",
    ]);
    for (file, content) in files {
        std::fs::write(dir.join(file), content).unwrap();
        cmd.args(["-f", file]);
    }
    for (script, body) in scripts {
        std::fs::write(dir.join(script), format!("#!/bin/sh\n{body}\n")).unwrap();
        cmd.args(["-s", script]);
    }
    let out = dir.join(format!("{name}.mender"));
    let key = fx().path("rsa.key");
    let status = cmd
        .args(["-k", key.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

#[test]
fn debian_directory_module_installs_and_rolls_back_a_tree() {
    let s = device();
    let dest = s.root().join("app-dir");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("old.txt"), "old\n").unwrap();
    let update = tar(
        &[
            crate::fixtures::Member::file("a.txt", b"new a\n"),
            crate::fixtures::Member::file("b.txt", b"new b\n"),
        ],
        Dialect::Ustar,
    );
    let art = module_artifact(
        &s,
        "dir-1",
        "directory",
        &[
            ("dest_dir", dest.display().to_string().into_bytes()),
            ("update.tar", update),
        ],
    );
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(
        std::fs::read_to_string(dest.join("a.txt")).unwrap(),
        "new a\n"
    );
    assert!(!dest.join("old.txt").exists());
    assert_eq!(run(&s, &["rollback"]).code, 0);
    assert_eq!(
        std::fs::read_to_string(dest.join("old.txt")).unwrap(),
        "old\n"
    );
    assert!(!dest.join("a.txt").exists());
}

#[test]
fn debian_script_module_runs_the_payload_and_commits_at_once() {
    let s = device();
    let marker = s.root().join("ran");
    let script = format!("#!/bin/sh\necho ran > {}\n", marker.display()).into_bytes();
    let art = module_artifact(&s, "script-1", "script", &[("run.sh", script)]);
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // The script module does not support rollback, so the install commits straight away.
    assert!(
        v.stdout.contains("Installed and committed."),
        "{}",
        v.stdout
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n");
    assert_eq!(run(&s, &["show-artifact"]).stdout, "script-1\n");
    assert_eq!(run(&s, &["commit"]).code, 2);
}

#[test]
fn a_script_exiting_21_is_retried_later() {
    let s = device();
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}","StateScriptRetryIntervalSeconds":1,"StateScriptRetryTimeoutSeconds":10}}"#,
            fx().path("rsa.pub").display()
        )
        .as_bytes(),
    );
    let marker = s.root().join("asked-once");
    let scripts = [(
        "ArtifactInstall_Enter_00",
        format!(
            "if [ -e {m} ]; then exit 0; fi; touch {m}; exit 21",
            m = marker.display()
        ),
    )];
    let art = artifact_with_scripts(&s, "app-1", "version 1\n", &scripts);
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert!(marker.exists());
    assert_eq!(target(&s).as_deref(), Some("version 1\n"));
}

#[test]
fn one_operation_at_a_time() {
    let s = device();
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let lock = s.root().join("var/artifact-gate/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // Someone else holds the operation lock (as a running install would).
    let file = std::fs::File::create(&lock).unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let v = run(&s, &["install", art.to_str().unwrap()]);
    drop(held);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("another artifact-gate operation is running"),
        "{}",
        v.stderr
    );
    assert_eq!(target(&s), None);
    // Once it is gone, the install goes through.
    assert_eq!(run(&s, &["install", art.to_str().unwrap()]).code, 0);
}

/// Puts an executable device script (`<conf dir>/scripts/<name>`) with a shell `body`.
fn device_script(s: &Scratch, name: &str, body: &str) {
    let path = s.write(
        &format!("etc/scripts/{name}"),
        format!("#!/bin/sh\n{body}\n").as_bytes(),
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Device Download scripts that log to `<sandbox>/scripts.log`; `enter_exit`/`leave_exit` are
/// their exit codes.
fn download_scripts(s: &Scratch, enter_exit: i32, leave_exit: i32) -> PathBuf {
    let log = s.root().join("scripts.log");
    let l = log.display();
    device_script(
        s,
        "Download_Enter_00",
        &format!("echo download-enter >> {l}; exit {enter_exit}"),
    );
    device_script(
        s,
        "Download_Leave_00",
        &format!("echo download-leave >> {l}; exit {leave_exit}"),
    );
    device_script(
        s,
        "Download_Error_00",
        &format!("echo download-error >> {l}"),
    );
    log
}

#[test]
fn device_download_scripts_run_around_the_download_before_artifact_install() {
    let s = device();
    let log = download_scripts(&s, 0, 0);
    let art = artifact_with_scripts(
        &s,
        "app-1",
        "version 1\n",
        &[logging(&log, "ArtifactInstall_Enter_00")]
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect::<Vec<_>>(),
    );
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "download-enter\ndownload-leave\nArtifactInstall_Enter_00\n"
    );
}

#[test]
fn a_failing_download_enter_script_stops_before_the_module_starts() {
    let s = device();
    let log = download_scripts(&s, 1, 0);
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("Download_Enter_00 failed (exit 1)"),
        "{}",
        v.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "download-enter\ndownload-error\n"
    );
    assert!(
        !s.root().join("var/modules").exists(),
        "the module's Download must not start"
    );
    assert_eq!(target(&s), None);
    assert_eq!(run(&s, &["commit"]).code, 2, "nothing may be pending");
}

#[test]
fn a_failing_download_leave_script_stops_before_artifact_install() {
    let s = device();
    let log = download_scripts(&s, 0, 3);
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("Download_Leave_00 failed (exit 3)"),
        "{}",
        v.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "download-enter\ndownload-leave\ndownload-error\n"
    );
    assert_eq!(target(&s), None, "ArtifactInstall must not run");
    assert_eq!(run(&s, &["commit"]).code, 2, "nothing may be pending");
}

#[test]
fn a_payload_failing_its_checksum_runs_the_download_error_scripts() {
    let s = device();
    let log = download_scripts(&s, 0, 0);
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    let mut opened = Art {
        members: untar(&std::fs::read(&art).unwrap()),
    };
    let mut files = untar(&crate::fixtures::gunzip(opened.get("data/0000.tar.gz")));
    let app = files.iter_mut().find(|m| m.name == "app.conf").unwrap();
    app.data = b"version 666\n".to_vec();
    opened.set(
        "data/0000.tar.gz",
        crate::fixtures::gzip(&tar(&files, Dialect::Ustar)),
    );
    let bad = s.write("bad.mender", &opened.bytes());
    let v = run(&s, &["install", bad.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("checksum mismatch"), "{}", v.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "download-enter\ndownload-error\n"
    );
    assert_eq!(target(&s), None);
}

#[test]
fn a_bad_signature_runs_no_download_script_at_all() {
    let s = device();
    let log = download_scripts(&s, 0, 0);
    let art = single_file_artifact(&s, "app-1", "version 1\n");
    s.write(
        "etc/mender.conf",
        format!(
            r#"{{"ArtifactVerifyKey":"{}"}}"#,
            fx().path("ec.pub").display()
        )
        .as_bytes(),
    );
    let v = run(&s, &["install", art.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("signature"), "{}", v.stderr);
    assert!(!log.exists(), "scripts ran for an unverified artifact");
}
