//! The built-in A/B installer end to end: regular files stand in for the two partitions, and the
//! boot environment is a file-backed U-Boot one driven through Debian's `fw_setenv`/
//! `fw_printenv`, or a grub-mender-grubenv directory checked with GRUB's `grub-editenv`.

use std::process::Command;

use crate::device::{BootEnv, Device, PART, ok};
use crate::fixtures::{Art, Dialect, fx, gunzip, gzip, tar, untar};

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
    let d = Device::with_boot(PART, BootEnv::Grub);
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
    let d = Device::with_boot(PART, BootEnv::Grub);
    assert_eq!(d.run(&["install", &artifact()]).code, 0);
    let v = d.run(&["rollback"]);
    assert_eq!(v.code, 0, "{}", v.stderr);
    assert_eq!(d.boot_vars(), (Some("2".into()), Some("0".into())));
}

#[test]
fn grub_copy_left_mid_edit_is_restored_from_the_other_before_use() {
    let d = Device::with_boot(PART, BootEnv::Grub);
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
    let d = Device::with_boot(PART, BootEnv::Grub);
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
