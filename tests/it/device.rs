//! The A/B device the rootfs, daemon, rejection and fault-injection tests install onto: regular
//! files stand in for the two partitions (2 active, 3 inactive), mender.conf names them and the
//! RSA key, and the boot environment is a file-backed U-Boot one (single or redundant) driven
//! through Debian's `fw_setenv`/`fw_printenv`, or a grub-mender-grubenv directory checked with
//! GRUB's `grub-editenv`.

use std::path::PathBuf;
use std::process::Command;

use crate::fixtures::{Scratch, Verdict, fx};

pub(crate) const PART: usize = 1024 * 1024;

/// Which boot environment the device under test has.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BootEnv {
    /// A file-backed U-Boot environment, read and written with `fw_printenv`/`fw_setenv`.
    UBoot,
    /// The same with two copies (`boot/env1`, `boot/env2`), as Mender requires of U-Boot
    /// devices: a crash inside `fw_setenv` leaves one valid copy.
    UBootRedundant,
    /// A grub-mender-grubenv directory (two copies with locks), read with `grub-editenv`.
    Grub,
}

pub(crate) struct Device {
    pub(crate) s: Scratch,
    boot: BootEnv,
}

const DEFAULTS: [(&str, &str); 4] = [
    ("mender_boot_part", "2"),
    ("mender_boot_part_hex", "2"),
    ("upgrade_available", "0"),
    ("bootcount", "0"),
];

pub(crate) fn ok(command: &mut Command) -> String {
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
        Self::with_boot(inactive_size, BootEnv::UBoot)
    }

    pub(crate) fn with_boot(inactive_size: usize, boot: BootEnv) -> Self {
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
            BootEnv::UBoot | BootEnv::UBootRedundant => {
                let copies: String = if boot == BootEnv::UBoot {
                    vec!["boot/env.bin"]
                } else {
                    vec!["boot/env1", "boot/env2"]
                }
                .into_iter()
                .map(|name| {
                    let env = d.s.write(name, &vec![0u8; 0x4000]);
                    format!("{} 0x0000 0x4000\n", env.display())
                })
                .collect();
                d.s.write("boot/fw_env.config", copies.as_bytes());
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
            BootEnv::Grub => {
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

    pub(crate) fn fw_config(&self) -> PathBuf {
        self.s.root().join("boot/fw_env.config")
    }

    pub(crate) fn grub_dir(&self) -> PathBuf {
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
            BootEnv::UBoot | BootEnv::UBootRedundant => (
                "ARTIFACT_GATE_FW_ENV_CONFIG".to_owned(),
                self.fw_config().into_os_string(),
            ),
            BootEnv::Grub => (
                "ARTIFACT_GATE_GRUBENV_DIR".to_owned(),
                self.grub_dir().into_os_string(),
            ),
        });
        env
    }

    /// The environment with partition `running` mounted as `/` (`$ARTIFACT_GATE_ROOT_DEVICE`).
    pub(crate) fn env_running(&self, running: u32) -> Vec<(String, std::ffi::OsString)> {
        let mut env = self.env();
        env.push((
            "ARTIFACT_GATE_ROOT_DEVICE".to_owned(),
            self.part_path(running).into_os_string(),
        ));
        env
    }

    /// A partition's path.
    pub(crate) fn part_path(&self, n: u32) -> PathBuf {
        self.s.root().join(format!("dev/rootfs-p{n}"))
    }

    /// A variable as the bootloader would see it. For GRUB both copies must be intact (their
    /// locks match the recorded digests, as `sha256sum -c` checks them) and agree.
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        let listing = match self.boot {
            BootEnv::UBoot | BootEnv::UBootRedundant => {
                ok(Command::new("fw_printenv").arg("-c").arg(self.fw_config()))
            }
            BootEnv::Grub => {
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
            BootEnv::UBoot | BootEnv::UBootRedundant => {
                let script = self
                    .s
                    .write("boot/set", format!("{name}={value}\n").as_bytes());
                ok(Command::new("fw_setenv")
                    .arg("-c")
                    .arg(self.fw_config())
                    .arg("-s")
                    .arg(&script));
            }
            BootEnv::Grub => {
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
