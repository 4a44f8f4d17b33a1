//! The built-in A/B installer end to end: regular files stand in for the two partitions, and the
//! boot environment is a file-backed U-Boot one driven through Debian's `fw_setenv`/
//! `fw_printenv`, or a grub-mender-grubenv directory checked with GRUB's `grub-editenv`.

use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::{Art, Dialect, Scratch, Verdict, fx, gunzip, gzip, tar, untar};

pub(crate) const PART: usize = 1024 * 1024;

/// Which boot environment the device under test has.
#[derive(Clone, Copy)]
enum Boot {
    /// A file-backed U-Boot environment, read and written with `fw_printenv`/`fw_setenv`.
    UBoot,
    /// A grub-mender-grubenv directory (two copies with locks), read with `grub-editenv`.
    Grub,
}

pub(crate) struct Device {
    pub(crate) s: Scratch,
    boot: Boot,
}

const DEFAULTS: [(&str, &str); 4] = [
    ("mender_boot_part", "2"),
    ("mender_boot_part_hex", "2"),
    ("upgrade_available", "0"),
    ("bootcount", "0"),
];

fn ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Device {
    pub(crate) fn new(inactive_size: usize) -> Self {
        Self::with_boot(inactive_size, Boot::UBoot)
    }

    fn with_boot(inactive_size: usize, boot: Boot) -> Self {
        let s = Scratch::new();
        let dev = s.root().join("dev");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("rootfs-p2"), vec![0xaa; PART]).unwrap();
        std::fs::write(dev.join("rootfs-p3"), vec![0u8; inactive_size]).unwrap();
        s.write(
            "etc/mender.conf",
            format!(
                r#"{{"ArtifactVerifyKey":"{}","RootfsPartA":"{}","RootfsPartB":"{}"}}"#,
                fx().path("rsa.pub").display(),
                dev.join("rootfs-p2").display(),
                dev.join("rootfs-p3").display()
            )
            .as_bytes(),
        );
        s.write("var/device_type", b"device_type=beaglebone\n");
        let d = Self { s, boot };
        match boot {
            Boot::UBoot => {
                let env = d.s.write("boot/env.bin", &vec![0u8; 0x4000]);
                d.s.write(
                    "boot/fw_env.config",
                    format!("{} 0x0000 0x4000\n", env.display()).as_bytes(),
                );
                let lines: String = DEFAULTS.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
                let defaults = d.s.write("boot/defaults", lines.as_bytes());
                ok(Command::new("fw_setenv")
                    .arg("-c")
                    .arg(d.fw_config())
                    .arg("-f")
                    .arg(&defaults)
                    .arg("-s")
                    .arg(&defaults));
            }
            Boot::Grub => {
                // The layout grub-mender-grubenv's `make-env-and-lock-files` produces.
                for n in [1, 2] {
                    let dir = d.grub_dir().join(format!("mender_grubenv{n}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    ok(Command::new("grub-editenv")
                        .arg(dir.join("env"))
                        .arg("create"));
                    ok(Command::new("grub-editenv")
                        .arg(dir.join("env"))
                        .arg("set")
                        .args(DEFAULTS.iter().map(|(k, v)| format!("{k}={v}"))));
                    ok(Command::new("grub-editenv")
                        .arg(dir.join("lock"))
                        .arg("create"));
                    ok(Command::new("grub-editenv")
                        .arg(dir.join("lock"))
                        .args(["set", "editing=0"]));
                    let sum = ok(Command::new("sha256sum").arg("lock").current_dir(&dir));
                    std::fs::write(dir.join("lock.sha256sum"), sum).unwrap();
                }
            }
        }
        assert_eq!(d.var("mender_boot_part").as_deref(), Some("2"));
        d
    }

    fn fw_config(&self) -> PathBuf {
        self.s.root().join("boot/fw_env.config")
    }

    fn grub_dir(&self) -> PathBuf {
        self.s.root().join("boot/grub-mender-grubenv")
    }

    pub(crate) fn run(&self, args: &[&str]) -> Verdict {
        let mut command = Command::new(env!("CARGO_BIN_EXE_artifact-gate"));
        command.args(args).envs(self.env());
        Verdict::from(command.output().unwrap())
    }

    /// The environment that points artifact-gate at this device.
    pub(crate) fn env(&self) -> Vec<(String, std::ffi::OsString)> {
        let root = self.s.root();
        let mut env = vec![
            (
                "MENDER_CONF_DIR".to_owned(),
                root.join("etc").into_os_string(),
            ),
            (
                "MENDER_DATASTORE_DIR".to_owned(),
                root.join("var").into_os_string(),
            ),
            (
                "MENDER_DATA_DIR".to_owned(),
                root.join("share").into_os_string(),
            ),
        ];
        env.push(match self.boot {
            Boot::UBoot => (
                "ARTIFACT_GATE_FW_ENV_CONFIG".to_owned(),
                self.fw_config().into_os_string(),
            ),
            Boot::Grub => (
                "ARTIFACT_GATE_GRUBENV_DIR".to_owned(),
                self.grub_dir().into_os_string(),
            ),
        });
        env
    }

    /// A partition's path.
    pub(crate) fn part_path(&self, n: u32) -> PathBuf {
        self.s.root().join(format!("dev/rootfs-p{n}"))
    }

    /// A variable as the bootloader would see it. For GRUB both copies must be intact (their
    /// locks match the recorded digests, as `sha256sum -c` checks them) and agree.
    fn var(&self, name: &str) -> Option<String> {
        let listing = match self.boot {
            Boot::UBoot => ok(Command::new("fw_printenv").arg("-c").arg(self.fw_config())),
            Boot::Grub => {
                let copies: Vec<String> = [1, 2]
                    .iter()
                    .map(|n| {
                        let dir = self.grub_dir().join(format!("mender_grubenv{n}"));
                        ok(Command::new("sha256sum")
                            .args(["-c", "lock.sha256sum"])
                            .current_dir(&dir));
                        let lock = ok(Command::new("grub-editenv")
                            .arg(dir.join("lock"))
                            .arg("list"));
                        assert_eq!(lock, "editing=0\n", "copy {n} left mid-edit");
                        ok(Command::new("grub-editenv")
                            .arg(dir.join("env"))
                            .arg("list"))
                    })
                    .collect();
                assert_eq!(copies[0], copies[1], "the two GRUB copies disagree");
                copies[0].clone()
            }
        };
        listing
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    pub(crate) fn set(&self, name: &str, value: &str) {
        match self.boot {
            Boot::UBoot => {
                let script = self
                    .s
                    .write("boot/set", format!("{name}={value}\n").as_bytes());
                ok(Command::new("fw_setenv")
                    .arg("-c")
                    .arg(self.fw_config())
                    .arg("-s")
                    .arg(&script));
            }
            Boot::Grub => {
                for n in [1, 2] {
                    let env = self.grub_dir().join(format!("mender_grubenv{n}/env"));
                    ok(Command::new("grub-editenv")
                        .arg(env)
                        .arg("set")
                        .arg(format!("{name}={value}")));
                }
            }
        }
    }

    pub(crate) fn part(&self, n: u32) -> Vec<u8> {
        std::fs::read(self.s.root().join(format!("dev/rootfs-p{n}"))).unwrap()
    }

    pub(crate) fn boot_vars(&self) -> (Option<String>, Option<String>) {
        (self.var("mender_boot_part"), self.var("upgrade_available"))
    }
}

fn image() -> Vec<u8> {
    std::fs::read(crate::fixtures::vectors_dir().join("mender_test.img")).unwrap()
}

fn artifact() -> String {
    fx().path("rootfs-rsa.mender").to_str().unwrap().to_owned()
}

#[test]
fn install_writes_the_inactive_partition_and_switches_boot_then_commit() {
    let d = Device::new(PART);
    let v = d.run(&["install", "--reboot-exit-code", &artifact()]);
    assert_eq!(v.code, 4, "reboot required: {}", v.stderr);
    assert!(
        v.stdout.contains("Installed, but not committed."),
        "{}",
        v.stdout
    );
    let p3 = d.part(3);
    assert_eq!(&p3[..image().len()], &image()[..]);
    assert!(
        d.part(2).iter().all(|b| *b == 0xaa),
        "the active partition is never written"
    );
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("1".into())));
    assert_eq!(d.var("mender_boot_part_hex").as_deref(), Some("3"));
    assert_eq!(d.var("bootcount").as_deref(), Some("0"));

    // After the reboot the bootloader runs partition 3 (mender_boot_part says so).
    let v = d.run(&["commit"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("0".into())));
    let provides = d.run(&["show-provides"]).stdout;
    assert!(
        provides.contains("rootfs-image.version=rootfs-rsa\n"),
        "{provides}"
    );
    assert!(
        provides.contains(
            "rootfs-image.checksum=dc66c40bc3e52e1d0d3f46f417cbb8e12a86bc63b2a9b3be91ee77aa0fd680b0"
        ),
        "{provides}"
    );
}

#[test]
fn rollback_points_the_bootloader_back() {
    let d = Device::new(PART);
    assert_eq!(d.run(&["install", &artifact()]).code, 0);
    assert_eq!(
        d.run(&["install", &artifact()]).code,
        1,
        "a second install must wait"
    );
    let v = d.run(&["rollback"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
    assert_eq!(d.run(&["show-artifact"]).stdout, "Unknown\n");
}

#[test]
fn a_tampered_image_leaves_the_boot_variables_untouched() {
    let d = Device::new(PART);
    let mut art = Art::open("rootfs-rsa.mender");
    let mut files = untar(&gunzip(art.get("data/0000.tar.gz")));
    files[0].data[300_000] ^= 0x01;
    art.set("data/0000.tar.gz", gzip(&tar(&files, Dialect::Ustar)));
    let bad = d.s.write("bad.mender", &art.bytes());
    let v = d.run(&["install", bad.to_str().unwrap()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr
            .contains("checksum mismatch for 'data/0000/rootfs.img'"),
        "{}",
        v.stderr
    );
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
    assert_eq!(d.run(&["commit"]).code, 2);
}

#[test]
fn an_image_larger_than_the_partition_is_refused_before_writing() {
    let d = Device::new(256 * 1024);
    let v = d.run(&["install", &artifact()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("does not fit partition"), "{}", v.stderr);
    assert!(d.part(3).iter().all(|b| *b == 0), "nothing may be written");
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
}

#[test]
fn commit_is_refused_after_the_bootloader_reverted() {
    let d = Device::new(PART);
    assert_eq!(d.run(&["install", &artifact()]).code, 0);
    // The new partition failed to boot: the bootloader went back and cleared the flag.
    d.set("upgrade_available", "0");
    d.set("mender_boot_part", "2");
    let v = d.run(&["commit"]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("reverted"), "{}", v.stderr);
}

#[test]
fn grub_environment_install_switches_both_copies_then_commit() {
    let d = Device::with_boot(PART, Boot::Grub);
    let v = d.run(&["install", "--reboot-exit-code", &artifact()]);
    assert_eq!(v.code, 4, "reboot required: {}", v.stderr);
    assert_eq!(&d.part(3)[..image().len()], &image()[..]);
    // `var` also checks that both copies are intact and identical.
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("1".into())));
    assert_eq!(d.var("mender_boot_part_hex").as_deref(), Some("3"));
    assert_eq!(d.var("bootcount").as_deref(), Some("0"));
    let v = d.run(&["commit"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("0".into())));
}

#[test]
fn grub_environment_rollback_points_back() {
    let d = Device::with_boot(PART, Boot::Grub);
    assert_eq!(d.run(&["install", &artifact()]).code, 0);
    let v = d.run(&["rollback"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
}

#[test]
fn grub_copy_left_mid_edit_is_restored_from_the_other_before_use() {
    let d = Device::with_boot(PART, Boot::Grub);
    // A power cut while copy 2 was being written: its lock says editing=1 (so its digest no
    // longer matches) and its variables are half-changed.
    let two = d.grub_dir().join("mender_grubenv2");
    ok(Command::new("grub-editenv")
        .arg(two.join("lock"))
        .args(["set", "editing=1"]));
    ok(Command::new("grub-editenv").arg(two.join("env")).args([
        "set",
        "mender_boot_part=3",
        "half_written=1",
    ]));
    let v = d.run(&["install", &artifact()]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    // Copy 2 was rebuilt from copy 1 first: the stray variable is gone and both agree.
    assert_eq!(d.var("half_written"), None);
    assert_eq!(d.boot_vars(), (Some("3".into()), Some("1".into())));
}

#[test]
fn grub_environment_with_both_copies_corrupt_refuses_before_writing() {
    let d = Device::with_boot(PART, Boot::Grub);
    for n in [1, 2] {
        let sum = d
            .grub_dir()
            .join(format!("mender_grubenv{n}/lock.sha256sum"));
        std::fs::write(&sum, format!("{}  lock\n", "0".repeat(64))).unwrap();
    }
    let v = d.run(&["install", &artifact()]);
    assert_eq!(v.code, 1);
    assert!(v.stderr.contains("both copies"), "{}", v.stderr);
    assert!(d.part(3).iter().all(|b| *b == 0), "nothing may be written");
    assert_eq!(d.run(&["commit"]).code, 2, "nothing is pending");
}

#[test]
fn a_failing_download_enter_script_leaves_the_inactive_partition_unwritten() {
    let d = Device::new(PART);
    let script =
        d.s.write("etc/scripts/Download_Enter_00", b"#!/bin/sh\nexit 7\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let v = d.run(&["install", &artifact()]);
    assert_eq!(v.code, 1);
    assert!(
        v.stderr.contains("Download_Enter_00 failed (exit 7)"),
        "{}",
        v.stderr
    );
    assert!(d.part(3).iter().all(|b| *b == 0), "nothing may be written");
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
}
