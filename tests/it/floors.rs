//! The downgrade floor and the security floor (issue #16 items 2 and 3), as attacks: a validly
//! signed older release, installed through the real single-file Update Module, on the command
//! line and through the daemon, with the security floor kept in a file or in an NV counter of a
//! real software TPM (swtpm, read back with tpm2-tools).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::daemon::{Daemon, env_of};
use crate::fixtures::{Scratch, app_artifact, app_target, gate, module_device};
use crate::tokens::Tpm;

/// The key mender-artifact's `--software-version` fills in for a single-file payload.
const VERSION: &str = "rootfs-image.single-file.version";
const SECURITY: &str = "artifact_gate.security_version";

/// A signed single-file artifact with release `version` and, if given, a security version.
fn release(s: &Scratch, version: &str, security: Option<u64>) -> PathBuf {
    let content = format!("release {version}\n");
    let security = security.map(|n| format!("{SECURITY}:{n}"));
    let mut extra = vec!["--software-version", version];
    if let Some(p) = &security {
        extra.extend(["-p", p.as_str()]);
    }
    let name = format!("app-{version}-{}", security.as_deref().unwrap_or("none"));
    app_artifact(s, &name.replace(':', "_"), &content, &extra)
}

fn words(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `install --no-daemon` then `commit`; the install's output.
fn install_and_commit(s: &Scratch, artifact: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["install", "--no-daemon"];
    args.extend(extra);
    args.push(artifact.to_str().unwrap());
    let out = gate(&args, s.root());
    if out.status.success() {
        let commit = gate(&["commit"], s.root());
        assert!(commit.status.success(), "{}", words(&commit));
    }
    out
}

fn settings(s: &Scratch, policy: &str) {
    s.write(
        "etc/artifact-gate.toml",
        format!("[policy]\nversion_provide = \"{VERSION}\"\nversion_scheme = \"semver\"\n{policy}")
            .as_bytes(),
    );
}

#[test]
fn a_signed_downgrade_is_rejected_and_allow_downgrade_lets_one_through() {
    let s = module_device();
    settings(&s, "");
    let out = install_and_commit(&s, &release(&s, "1.4.0", None), &[]);
    assert!(out.status.success(), "{}", words(&out));
    // An older release, validly signed: refused before the module reads a byte.
    let out = install_and_commit(&s, &release(&s, "1.3.9", None), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", words(&out));
    assert!(
        words(&out).contains(&format!(
            "downgrade from 1.4.0 to 1.3.9 ({VERSION}): the device has committed 1.4.0"
        )),
        "{}",
        words(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("release 1.4.0\n"));
    // Equal is no downgrade; higher is fine; the floor follows semver, not text order.
    let out = install_and_commit(&s, &release(&s, "1.10.0", None), &[]);
    assert!(out.status.success(), "{}", words(&out));
    let out = install_and_commit(&s, &release(&s, "1.9.0", None), &[]);
    assert!(
        words(&out).contains("downgrade from 1.10.0 to 1.9.0"),
        "{}",
        words(&out)
    );
    // An artifact without the key is refused, saying which setting needs it.
    let bare = app_artifact(
        &s,
        "app-unversioned",
        "bare\n",
        &["--no-default-software-version"],
    );
    let out = install_and_commit(&s, &bare, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        words(&out).contains(&format!("provides no '{VERSION}'"))
            && words(&out).contains("[policy] version_provide"),
        "{}",
        words(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("release 1.10.0\n"));
    // --allow-downgrade: once, logged, and the floor stays where it was.
    let old = release(&s, "1.2.0", None);
    let out = install_and_commit(&s, &old, &["--allow-downgrade"]);
    assert!(out.status.success(), "{}", words(&out));
    assert!(
        words(&out).contains("--allow-downgrade"),
        "not logged: {}",
        words(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("release 1.2.0\n"));
    let out = install_and_commit(&s, &old, &[]);
    assert!(
        words(&out).contains("downgrade from 1.10.0 to 1.2.0"),
        "{}",
        words(&out)
    );
}

#[test]
fn the_floor_rises_at_commit_not_at_install() {
    let s = module_device();
    settings(&s, "");
    assert!(
        install_and_commit(&s, &release(&s, "1.0.0", None), &[])
            .status
            .success()
    );
    // 3.0.0 installed, then rolled back: never committed, so the floor stays at 1.0.0.
    let out = gate(
        &[
            "install",
            "--no-daemon",
            release(&s, "3.0.0", None).to_str().unwrap(),
        ],
        s.root(),
    );
    assert!(out.status.success(), "{}", words(&out));
    assert!(gate(&["rollback"], s.root()).status.success());
    assert_eq!(app_target(&s).as_deref(), Some("release 1.0.0\n"));
    let out = install_and_commit(&s, &release(&s, "2.0.0", None), &[]);
    assert!(out.status.success(), "{}", words(&out));
    let floor: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.root().join("var/artifact-gate/floor.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(floor["version"]["value"], "2.0.0", "{floor}");
    assert_eq!(floor["version"]["provide"], VERSION);
}

#[test]
fn the_daemon_refuses_a_downgrade_and_has_no_override() {
    let s = module_device();
    let policy = format!("[policy]\nversion_provide = \"{VERSION}\"\n");
    let d = Daemon::start(s.root(), &policy, env_of(&s));
    let (code, body) = d.curl(
        "PUT",
        "/v1/install",
        &["-T", release(&s, "2.0.0", None).to_str().unwrap()],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(app_target(&s).as_deref(), Some("release 2.0.0\n"), "{body}");
    let old = release(&s, "1.0.0", None);
    let (_, body) = d.curl("PUT", "/v1/install", &["-T", old.to_str().unwrap()]);
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert_eq!(last["code"], "downgrade", "{body}");
    assert_eq!(last["class"], "rejected", "{body}");
    // There is no API spelling of --allow-downgrade: an unknown field is refused.
    let (code, body) = d.curl(
        "POST",
        "/v1/install",
        &[
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"path":"{}","allow_downgrade":true}}"#, old.display()),
        ],
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("allow_downgrade"), "{body}");
    assert_eq!(app_target(&s).as_deref(), Some("release 2.0.0\n"));
}

// Item 3: the security floor.

/// The NV counter's raw value, read by tpm2-tools.
fn counter(tpm: &Tpm, index: &str) -> u64 {
    let out = Command::new("tpm2_nvread")
        .arg(format!("--tcti={}", tpm.tcti()))
        .args([index, "-C", index, "-s", "8"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    u64::from_be_bytes(out.stdout.as_slice().try_into().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_security_floor_in_a_tpm_counter_survives_a_restored_data_partition() {
    let s = module_device();
    let tpm = Tpm::bare();
    let index = "0x1500016";
    settings(
        &s,
        &format!(
            "security_version_provide = \"{SECURITY}\"\nfloor_store = \"tpm-nv:{index}\"\n\
             floor_tcti = \"{}\"\n",
            tpm.tcti()
        ),
    );
    let out = install_and_commit(&s, &release(&s, "1.0.0", Some(1)), &[]);
    assert!(out.status.success(), "{}", words(&out));
    // Defined and initialised at first use: floor 1 is the counter's value 2.
    assert_eq!(counter(&tpm, index), 2);
    let backup = s.root().join("backup-var");
    copy_dir(&s.root().join("var"), &backup);
    // A fixed hole: security version 3, committed; the counter follows.
    let out = install_and_commit(&s, &release(&s, "1.1.0", Some(3)), &[]);
    assert!(out.status.success(), "{}", words(&out));
    assert_eq!(counter(&tpm, index), 4);
    // The attacker restores the data partition from the old backup (provides and floor.json
    // of release 1.0.0) and offers the old, validly signed release with the old hole. The
    // release floor went back with the partition; the TPM's did not. --allow-downgrade does
    // not lower it either.
    std::fs::remove_dir_all(s.root().join("var")).unwrap();
    copy_dir(&backup, &s.root().join("var"));
    let old = release(&s, "1.0.1", Some(1));
    let out = install_and_commit(&s, &old, &["--allow-downgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", words(&out));
    assert!(
        words(&out).contains(&format!(
            "security version 1 ({SECURITY}) is below the device's floor 3, kept in tpm-nv:{index}"
        )),
        "{}",
        words(&out)
    );
    assert_eq!(app_target(&s).as_deref(), Some("release 1.1.0\n"));
    assert_eq!(
        counter(&tpm, index),
        4,
        "a refused install moved the counter"
    );
    // The current security version still installs.
    let out = install_and_commit(&s, &release(&s, "1.2.0", Some(3)), &[]);
    assert!(out.status.success(), "{}", words(&out));
}

#[test]
fn a_security_floor_in_a_file_goes_back_with_the_partition() {
    // The contrast that makes the TPM worth it: the same restore lowers a file-kept floor.
    let s = module_device();
    settings(&s, &format!("security_version_provide = \"{SECURITY}\"\n"));
    assert!(
        install_and_commit(&s, &release(&s, "1.0.0", Some(1)), &[])
            .status
            .success()
    );
    let backup = s.root().join("backup-var");
    copy_dir(&s.root().join("var"), &backup);
    assert!(
        install_and_commit(&s, &release(&s, "1.1.0", Some(3)), &[])
            .status
            .success()
    );
    // A newer release number, but the old security version.
    let old = release(&s, "1.2.0", Some(1));
    let out = install_and_commit(&s, &old, &[]);
    assert!(
        words(&out).contains("below the device's floor 3, kept in file"),
        "{}",
        words(&out)
    );
    std::fs::remove_dir_all(s.root().join("var")).unwrap();
    copy_dir(&backup, &s.root().join("var"));
    let out = install_and_commit(&s, &old, &[]);
    assert!(out.status.success(), "{}", words(&out));
}

#[test]
fn floor_settings_are_checked() {
    let s = module_device();
    let art = release(&s, "1.0.0", Some(1));
    for (body, key) in [
        (
            "floor_store = \"tpm-nv:0x81000001\"\nsecurity_version_provide = \"x\"\n",
            "policy.floor_store",
        ),
        ("floor_store = \"tpm-nv:0x1500016\"\n", "policy.floor_store"),
        ("version_scheme = \"calver\"\n", "version_scheme"),
    ] {
        s.write(
            "etc/artifact-gate.toml",
            format!("[policy]\n{body}").as_bytes(),
        );
        let out = gate(&["install", "--no-daemon", art.to_str().unwrap()], s.root());
        assert_eq!(out.status.code(), Some(1), "{body}: {}", words(&out));
        assert!(
            words(&out).contains("configuration error") && words(&out).contains(key),
            "{body}: {}",
            words(&out)
        );
    }
    assert_eq!(app_target(&s), None);
}

#[test]
fn the_debian_scheme_orders_as_dpkg_does() {
    use artifact_gate::policy::version::VersionScheme;
    let versions = [
        "1.0",
        "1.0~rc1",
        "1.0~~",
        "1.0+deb12u1",
        "1.0-1",
        "1.0-1~bpo12+1",
        "1:0.1",
        "1.0a",
        "1.0+",
        "1.2.10",
        "1.2.9",
        "2.0-0",
        "0001.0",
        "1.0-1.1",
        "1.0.0",
    ];
    for a in versions {
        for b in versions {
            let ours = VersionScheme::Debian.compare(a, b).unwrap();
            let op = match ours {
                std::cmp::Ordering::Less => "lt",
                std::cmp::Ordering::Equal => "eq",
                std::cmp::Ordering::Greater => "gt",
            };
            let dpkg = Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .unwrap();
            assert!(dpkg.success(), "we say {a} {op} {b}; dpkg disagrees");
        }
    }
}

/// A signed rootfs-image with `rootfs-image.version` = `version`.
fn rootfs_release(dir: &Path, version: &str) -> PathBuf {
    let out = dir.join(format!("rootfs-{version}.mender"));
    let made = Command::new("mender-artifact")
        .args(["write", "rootfs-image", "-n", &format!("rootfs-{version}")])
        .args(["--software-version", version, "-t", "beaglebone", "-f"])
        .arg(crate::fixtures::fx().path("rootfs.img"))
        .arg("-o")
        .arg(&out)
        .arg("-k")
        .arg(crate::fixtures::fx().path("rsa.key"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    out
}

#[test]
fn the_ab_installer_refuses_a_signed_downgrade_before_writing_the_inactive_slot() {
    use crate::device::{Device, PART};
    let d = Device::new(PART);
    d.s.write(
        "etc/artifact-gate.toml",
        b"[policy]\nversion_provide = \"rootfs-image.version\"\nversion_scheme = \"semver\"\n",
    );
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(args)
            .envs(d.env())
            .env(
                "ARTIFACT_GATE_CONFIG",
                d.s.root().join("etc/artifact-gate.toml"),
            )
            .output()
            .unwrap()
    };
    let newer = rootfs_release(d.s.root(), "2.1.0");
    let older = rootfs_release(d.s.root(), "2.0.9");
    let out = run(&["install", "--no-daemon", newer.to_str().unwrap()]);
    assert!(out.status.success(), "{}", words(&out));
    // After the reboot into slot 3, the commit raises the floor to 2.1.0.
    let out = run(&["commit"]);
    assert!(out.status.success(), "{}", words(&out));
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("0".into())));
    let slot = d.part(2);

    let out = run(&["install", "--no-daemon", older.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", words(&out));
    assert!(
        words(&out).contains(
            "downgrade from 2.1.0 to 2.0.9 (rootfs-image.version): the device has committed 2.1.0"
        ),
        "{}",
        words(&out)
    );
    assert_eq!(d.part(2), slot, "the inactive slot was written");
    assert_eq!(
        d.boot_vars(),
        (Some("3".into()), Some("0".into())),
        "the boot switched"
    );
    assert_eq!(run(&["show-artifact"]).stdout, b"rootfs-2.1.0\n");

    // Root may let this one through; it is written and the boot switches to it.
    let out = run(&["install", "--allow-downgrade", older.to_str().unwrap()]);
    assert!(out.status.success(), "{}", words(&out));
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("1".into())));
    assert_ne!(d.part(2), slot, "the inactive slot was not written");
}
