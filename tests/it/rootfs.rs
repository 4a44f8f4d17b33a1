//! The built-in A/B installer end to end: regular files stand in for the two partitions and a
//! file-backed U-Boot environment is driven through Debian's `fw_setenv`/`fw_printenv`.

use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::{Art, Dialect, Scratch, Verdict, fx, gunzip, gzip, tar, untar};

const PART: usize = 1024 * 1024;

struct Device {
    s: Scratch,
    fw_config: PathBuf,
}

impl Device {
    fn new(inactive_size: usize) -> Self {
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
        let env = s.write("boot/env.bin", &vec![0u8; 0x4000]);
        let fw_config = s.write(
            "boot/fw_env.config",
            format!("{} 0x0000 0x4000\n", env.display()).as_bytes(),
        );
        let defaults = s.write(
            "boot/defaults",
            b"mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\n",
        );
        let out = Command::new("fw_setenv")
            .arg("-c")
            .arg(&fw_config)
            .arg("-f")
            .arg(&defaults)
            .arg("-s")
            .arg(&defaults)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let d = Self { s, fw_config };
        assert_eq!(d.var("mender_boot_part").as_deref(), Some("2"));
        d
    }

    fn run(&self, args: &[&str]) -> Verdict {
        let out = Command::new(env!("CARGO_BIN_EXE_artifact-gate"))
            .args(args)
            .env("MENDER_CONF_DIR", self.s.root().join("etc"))
            .env("MENDER_DATASTORE_DIR", self.s.root().join("var"))
            .env("MENDER_DATA_DIR", self.s.root().join("share"))
            .env("ARTIFACT_GATE_FW_ENV_CONFIG", &self.fw_config)
            .output()
            .unwrap();
        Verdict::from(out)
    }

    fn var(&self, name: &str) -> Option<String> {
        let out = Command::new("fw_printenv")
            .arg("-c")
            .arg(&self.fw_config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
    }

    fn set(&self, name: &str, value: &str) {
        let script = self
            .s
            .write("boot/set", format!("{name}={value}\n").as_bytes());
        let out = Command::new("fw_setenv")
            .arg("-c")
            .arg(&self.fw_config)
            .arg("-s")
            .arg(&script)
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    fn part(&self, n: u32) -> Vec<u8> {
        std::fs::read(self.s.root().join(format!("dev/rootfs-p{n}"))).unwrap()
    }

    fn boot_vars(&self) -> (Option<String>, Option<String>) {
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
