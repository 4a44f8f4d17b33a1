//! One named test per attack: each builds the variant from a genuine artifact, and asserts the
//! exit code and the specific reason. Spec §10, §12 and peers.md (d).

use crate::fixtures::{Art, Dialect, Member, Scratch, Signer, fx, tar, untar};

const KEY: &str = "rsa.pub";
const SIGNER: Signer<'static> = Signer::Rsa("rsa.key");

fn rejected(art: &Art, why: &str) {
    rejected_bytes(&art.bytes(), why);
}

fn rejected_bytes(bytes: &[u8], why: &str) {
    Scratch::new().validate(bytes, KEY).fails(1, why);
}

/// The uncompressed module artifact: payload and header are plain tars, easy to edit.
fn plain() -> Art {
    Art::open("mod-none.mender")
}

fn payload(art: &Art) -> Vec<Member> {
    untar(art.get("data/0000.tar"))
}

fn header(art: &Art) -> Vec<Member> {
    untar(art.get("header.tar"))
}

fn edit_file(members: &mut [Member], name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    f(&mut members.iter_mut().find(|m| m.name == name).unwrap().data);
}

#[test]
fn wrong_key() {
    Scratch::new()
        .validate(&fx().bytes("mod-rsa.mender"), "rsa2.pub")
        .fails(1, "no configured key verifies the manifest signature")
        .fails(1, "rsa2.pub");
}

#[test]
fn unsigned_while_a_key_is_configured() {
    Scratch::new()
        .validate(&fx().bytes("mod-unsigned.mender"), KEY)
        .fails(
            1,
            "artifact is not signed (no manifest.sig), but verification keys are configured",
        );
}

#[test]
fn flipped_bit_in_payload() {
    let mut art = plain();
    let mut files = payload(&art);
    edit_file(&mut files, "f1.txt", |d| d[3] ^= 0x01);
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    rejected(&art, "checksum mismatch for 'data/0000/f1.txt'");
}

#[test]
fn flipped_bit_in_compressed_payload() {
    let mut art = Art::open("mod-rsa.mender");
    let mut data = art.get("data/0000.tar.gz").to_vec();
    let mid = data.len() / 2;
    data[mid] ^= 0x10;
    art.set("data/0000.tar.gz", data);
    // Either inflate notices or the hash does; both are rejections naming the payload.
    let v = Scratch::new().validate(&art.bytes(), KEY);
    assert_eq!(v.code, 1, "{}", v.stderr);
    assert!(v.stderr.contains("data/0000"), "{}", v.stderr);
}

#[test]
fn flipped_bit_in_header() {
    let mut art = plain();
    let mut members = header(&art);
    edit_file(&mut members, "header-info", |d| {
        let pos = d.windows(10).position(|w| w == b"beaglebone").unwrap();
        d[pos + 9] ^= 0x01;
    });
    art.set("header.tar", tar(&members, Dialect::Ustar));
    rejected(&art, "checksum mismatch for 'header.tar'");
}

#[test]
fn flipped_bit_in_version() {
    let mut art = plain();
    let mut v = art.get("version").to_vec();
    v[2] ^= 0x20; // "format" → "Format": still acceptable JSON, but not the signed bytes
    art.set("version", v);
    rejected(&art, "checksum mismatch for 'version'");
}

#[test]
fn flipped_bit_in_manifest() {
    let mut art = plain();
    let mut m = art.get("manifest").to_vec();
    m[0] = if m[0] == b'a' { b'b' } else { b'a' };
    art.set("manifest", m);
    rejected(&art, "no configured key verifies the manifest signature");
}

#[test]
fn stale_signature_after_payload_and_manifest_change() {
    let mut art = plain();
    let old_sig = art.get("manifest.sig").to_vec();
    let mut files = payload(&art);
    edit_file(&mut files, "f1.txt", |d| d[0] = b'H');
    let new_f1 = files
        .iter()
        .find(|m| m.name == "f1.txt")
        .unwrap()
        .data
        .clone();
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    art.rehash("data/0000/f1.txt", &new_f1, SIGNER);
    art.set("manifest.sig", old_sig);
    rejected(&art, "no configured key verifies the manifest signature");
}

#[test]
fn signature_replayed_from_another_artifact() {
    let other = Art::open("mod-other.mender");
    let mut art = plain();
    art.set("manifest.sig", other.get("manifest.sig").to_vec());
    rejected(&art, "no configured key verifies the manifest signature");
}

#[test]
fn unlisted_payload_file() {
    let mut art = plain();
    let mut files = payload(&art);
    files.push(Member::file("evil.sh", b"#!/bin/sh\nrm -rf /\n"));
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    rejected(
        &art,
        "payload file 'data/0000/evil.sh' is not listed in the manifest",
    );
}

#[test]
fn listed_file_missing() {
    let mut art = plain();
    let files: Vec<Member> = payload(&art)
        .into_iter()
        .filter(|m| m.name != "z2.bin")
        .collect();
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    rejected(
        &art,
        "manifest lists files the payload does not contain: 'data/0000/z2.bin'",
    );
}

#[test]
fn manifest_without_header_line() {
    let mut art = plain();
    let text: String = art
        .manifest()
        .lines()
        .filter(|l| !l.ends_with("header.tar"))
        .map(|l| format!("{l}\n"))
        .collect();
    art.set_manifest(&text, SIGNER);
    rejected(&art, "manifest has no line for the header");
}

#[test]
fn manifest_without_version_line() {
    let mut art = plain();
    let text: String = art
        .manifest()
        .lines()
        .filter(|l| !l.ends_with("  version"))
        .map(|l| format!("{l}\n"))
        .collect();
    art.set_manifest(&text, SIGNER);
    rejected(&art, "manifest has no line for 'version'");
}

#[test]
fn manifest_with_duplicate_lines() {
    let mut art = plain();
    let first = art.manifest().lines().next().unwrap().to_owned();
    let text = format!("{}{first}\n", art.manifest());
    art.set_manifest(&text, SIGNER);
    rejected(&art, "duplicate path 'data/0000/f1.txt'");
}

#[test]
fn dotdot_in_payload_name_listed_in_signed_manifest() {
    let mut art = plain();
    let mut files = payload(&art);
    files.push(Member::file("../evil", b"x"));
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    let text = format!(
        "{}{}  data/0000/../evil\n",
        art.manifest(),
        crate::fixtures::sha256_hex(b"x")
    );
    art.set_manifest(&text, SIGNER);
    rejected(
        &art,
        "payload path 'data/0000/../evil': name contains a '..' or '.' path component",
    );
}

#[test]
fn dotdot_in_payload_member_name() {
    let mut art = plain();
    let mut files = payload(&art);
    files.insert(
        0,
        Member::file("../../etc/passwd", b"root::0:0::/:/bin/sh\n"),
    );
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    rejected(&art, "name contains a '..' component (path traversal)");
}

#[test]
fn dotdot_in_script_name() {
    let mut art = plain();
    let mut members = header(&art);
    members.insert(
        1,
        Member::file(
            "scripts/ArtifactInstall_Enter_00_x/../../../../etc/cron.d/x",
            b"boom",
        ),
    );
    let new_header = tar(&members, Dialect::Gnu);
    art.set("header.tar", new_header.clone());
    art.rehash("header.tar", &new_header, SIGNER);
    rejected(&art, "name contains a '..' component (path traversal)");
}

#[test]
fn script_for_a_device_only_state() {
    let mut art = plain();
    let mut members = header(&art);
    members.insert(1, Member::file("scripts/Download_Enter_00", b"#!/bin/sh\n"));
    let new_header = tar(&members, Dialect::Ustar);
    art.set("header.tar", new_header.clone());
    art.rehash("header.tar", &new_header, SIGNER);
    rejected(
        &art,
        "state script 'Download_Enter_00': not a valid artifact state-script name",
    );
}

#[test]
fn symlink_member_in_outer_tar() {
    let mut art = plain();
    art.insert_after(
        "manifest.sig",
        Member {
            kind: tar::EntryType::Symlink,
            link: Some("/etc/shadow".into()),
            ..Member::file("header.tar", b"")
        },
    );
    rejected(&art, "artifact member 'header.tar' is a symbolic link");
}

#[test]
fn symlink_member_in_payload() {
    let mut art = plain();
    let mut files = payload(&art);
    files.insert(
        0,
        Member {
            kind: tar::EntryType::Symlink,
            link: Some("/etc/shadow".into()),
            ..Member::file("f1.txt", b"")
        },
    );
    art.set("data/0000.tar", tar(&files, Dialect::Ustar));
    rejected(&art, "payload member 'f1.txt' is a symbolic link");
}

#[test]
fn directory_member() {
    let mut art = plain();
    art.insert_after(
        "manifest",
        Member {
            kind: tar::EntryType::Directory,
            ..Member::file("data/", b"")
        },
    );
    rejected(&art, "artifact member 'data/' is a directory");
}

#[test]
fn second_payload() {
    let mut art = plain();
    let data = art.get("data/0000.tar").to_vec();
    art.members.push(Member::file("data/0001.tar", &data));
    rejected(&art, "a second payload 'data/0001.tar' is not supported");
}

#[test]
fn payload_container_twice() {
    let mut art = plain();
    let data = art.get("data/0000.tar").to_vec();
    art.members.push(Member::file("data/0000.tar", &data));
    rejected(&art, "entry 'data/0000.tar' appears twice");
}

#[test]
fn unknown_entry() {
    let mut art = plain();
    art.members.push(Member::file("extra", b"hello"));
    rejected(
        &art,
        "unexpected entry 'extra' (expected the end of the artifact)",
    );
}

#[test]
fn augmented_artifact() {
    let mut art = plain();
    let manifest = art.get("manifest").to_vec();
    art.insert_after("manifest.sig", Member::file("manifest-augment", &manifest));
    rejected(
        &art,
        "augmented artifacts are not supported (entry 'manifest-augment')",
    );
}

#[test]
fn trailing_garbage() {
    let mut bytes = plain().bytes();
    bytes.extend_from_slice(b"\0\0\0GARBAGE AFTER THE END MARKER");
    rejected_bytes(&bytes, "non-zero data");
}

#[test]
fn zero_padding_after_the_end_is_fine() {
    let mut bytes = plain().bytes();
    bytes.extend_from_slice(&[0u8; 10240 - 1024]);
    Scratch::new().validate(&bytes, KEY).valid();
}

#[test]
fn payload_recompressed_over_endless_zeros_is_cut_at_the_padding_cap() {
    // The signed manifest covers the payload's files, not the zeros after the payload tar's
    // end. A genuine artifact recompressed with 256 MiB of zeros behind its tar (a few hundred
    // KiB of gzip; tens of GiB would compress just as well) must not keep the device
    // inflating: the padding stops at 1 MiB.
    let mut art = Art::open("mod-rsa.mender");
    let mut tar_bytes = crate::fixtures::gunzip(art.get("data/0000.tar.gz"));
    tar_bytes.resize(tar_bytes.len() + 256 * 1024 * 1024, 0);
    art.set("data/0000.tar.gz", crate::fixtures::gzip(&tar_bytes));
    rejected(
        &art,
        "more than 1048576 bytes of zero padding after the end-of-archive marker",
    );
    // Ordinary record padding (GNU tar's 10 KiB) is fine.
    let mut art = Art::open("mod-rsa.mender");
    let mut tar_bytes = crate::fixtures::gunzip(art.get("data/0000.tar.gz"));
    tar_bytes.resize(tar_bytes.len() + 10240, 0);
    art.set("data/0000.tar.gz", crate::fixtures::gzip(&tar_bytes));
    Scratch::new().validate(&art.bytes(), KEY).valid();
}

#[test]
fn a_payload_member_claiming_a_huge_size_is_stopped_by_the_inflate_ratio_guard() {
    // The payload tar's member sizes are not signed: a tampered member can claim 512 MiB of
    // zeros, which zstd packs into a few KiB. Its checksum would fail only after all of it
    // was inflated (and, for an install, written); the ratio guard stops it after 64 MiB.
    let mut art = Art::open("mod-rsa.mender");
    let size: u64 = 512 * 1024 * 1024;
    let mut head = ::tar::Header::new_ustar();
    head.set_path("f1.txt").unwrap();
    head.set_size(size);
    head.set_mode(0o644);
    head.set_cksum();
    use std::io::Read;
    let inner = head.as_bytes()[..]
        .chain(std::io::repeat(0).take(size))
        .chain(&[0u8; 1024][..]);
    let mut zst = Vec::new();
    zstd::stream::copy_encode(inner, &mut zst, 3).unwrap();
    art.rename("data/0000.tar.gz", "data/0000.tar.zst");
    art.set("data/0000.tar.zst", zst);
    rejected(&art, "'data/0000/f1.txt' inflates more than 1100:1");
}

#[test]
fn endless_zeros_after_the_artifact_are_cut_at_the_padding_cap() {
    let mut bytes = plain().bytes();
    bytes.resize(bytes.len() + 2 * 1024 * 1024, 0);
    rejected_bytes(&bytes, "more than 1048576 bytes of zero padding");
}

#[test]
fn signature_twice() {
    let mut art = plain();
    let sig = art.get("manifest.sig").to_vec();
    art.insert_after("manifest.sig", Member::file("manifest.sig", &sig));
    rejected(&art, "entry 'manifest.sig' appears twice");
}

#[test]
fn reordered_entries() {
    let mut art = plain();
    art.members.swap(1, 2); // manifest.sig before manifest
    rejected(
        &art,
        "unexpected entry 'manifest.sig' (expected 'manifest' after 'version')",
    );
    let mut art = plain();
    art.members.swap(0, 1); // manifest first
    rejected(
        &art,
        "unexpected entry 'manifest' (expected 'version' first)",
    );
}

#[test]
fn truncated_at_several_points() {
    let bytes = Art::open("mod-rsa.mender").bytes();
    let len = bytes.len();
    for cut in [
        0,
        100,
        512,
        700,
        1600,
        2500,
        len / 2,
        len - 1100,
        len - 1024,
        len - 600,
        len - 1,
    ] {
        let v = Scratch::new().validate(&bytes[..cut], KEY);
        assert_eq!(v.code, 1, "cut at {cut}: {}", v.stderr);
        assert!(
            [
                "truncated",
                "ends before",
                "no end-of-archive marker",
                "malformed"
            ]
            .iter()
            .any(|w| v.stderr.contains(w)),
            "cut at {cut}: {}",
            v.stderr
        );
        assert!(v.stdout.is_empty());
    }
}

#[test]
fn mix_and_match_header_from_another_artifact() {
    let other = Art::open("mod-other.mender");
    let mut art = plain();
    art.set("header.tar", other.get("header.tar").to_vec());
    rejected(&art, "checksum mismatch for 'header.tar'");
}

#[test]
fn mix_and_match_payload_from_another_artifact() {
    let other = Art::open("mod-other.mender");
    let mut art = plain();
    art.set("data/0000.tar", other.get("data/0000.tar").to_vec());
    rejected(
        &art,
        "payload file 'data/0000/other.txt' is not listed in the manifest",
    );
}

#[test]
fn lying_compression_suffix() {
    let mut art = Art::open("mod-rsa.mender");
    art.rename("header.tar.gz", "header.tar.xz");
    let text = art.manifest().replace("header.tar.gz", "header.tar.xz");
    art.set_manifest(&text, SIGNER);
    rejected(
        &art,
        "header is named 'header.tar.xz' but its content is gzip",
    );

    let mut art = Art::open("mod-rsa.mender");
    art.rename("data/0000.tar.gz", "data/0000.tar");
    rejected(
        &art,
        "entry 'data/0000.tar' is named uncompressed but its content is gzip",
    );
}

#[test]
fn member_claiming_a_huge_size() {
    let mut art = plain();
    art.members.last_mut().unwrap().size_override = Some(1 << 40);
    rejected(&art, "'data/0000.tar' is truncated");

    let mut art = plain();
    art.members[1].size_override = Some(1 << 33);
    rejected(&art, "entry 'manifest' is larger than the limit");
}

#[test]
fn absolute_and_nul_names() {
    let mut art = plain();
    art.rename("version", "/version");
    rejected(&art, "name is an absolute path");

    let mut art = plain();
    art.rename("version", "ver\0sion");
    // A NUL in a PAX path is a malformed PAX record, refused before the name rules run.
    rejected_bytes(
        &art.bytes_in(Dialect::Pax),
        "PAX extended header of member 'pax-short-name': record 1 ('path'): value holds a NUL byte",
    );
}

#[test]
fn unsupported_format_version() {
    let mut art = plain();
    let v2 = br#"{"format":"mender","version":2}"#.to_vec();
    art.set("version", v2.clone());
    art.rehash("version", &v2, SIGNER);
    rejected(&art, "artifact format version 2 is not supported");
}

#[test]
fn type_info_disagrees_with_header_info() {
    let mut art = plain();
    let mut members = header(&art);
    edit_file(&mut members, "headers/0000/type-info", |d| {
        *d = String::from_utf8_lossy(d)
            .replace("\"single-file\"", "\"directory\"")
            .into_bytes();
    });
    let new_header = tar(&members, Dialect::Ustar);
    art.set("header.tar", new_header.clone());
    art.rehash("header.tar", &new_header, SIGNER);
    rejected(
        &art,
        "type-info says payload type 'directory' but header-info says 'single-file'",
    );
}

#[test]
fn device_type_mismatch() {
    let s = Scratch::new();
    let key = fx().path(KEY);
    s.run(&[
        "validate",
        "-k",
        key.to_str().unwrap(),
        "--device-type",
        "raspberrypi4",
        fx().path("mod-rsa.mender").to_str().unwrap(),
    ])
    .fails(
        1,
        "artifact is for device types 'beaglebone', not for 'raspberrypi4'",
    );
}

/// Rewrites one header member of the plain artifact, then re-signs the manifest.
fn with_header_member(name: &str, f: impl FnOnce(String) -> String) -> Art {
    let mut art = plain();
    let mut members = header(&art);
    edit_file(&mut members, name, |d| {
        *d = f(String::from_utf8(d.clone()).unwrap()).into_bytes();
    });
    let new_header = tar(&members, Dialect::Ustar);
    art.set("header.tar", new_header.clone());
    art.rehash("header.tar", &new_header, SIGNER);
    art
}

#[test]
fn payload_type_that_escapes_the_module_directory() {
    // MEN-9027: the payload type names the Update Module to run.
    let art = with_header_member("header-info", |t| {
        t.replace("\"single-file\"", "\"../../bin/sh\"")
    });
    rejected(
        &art,
        "payload type '../../bin/sh' is not a valid module name",
    );
}

#[test]
fn payload_count_mismatches() {
    // MEN-9098: header-info's payload list against the one type-info.
    let art = with_header_member("header-info", |t| {
        t.replace("[{\"type\":\"single-file\"}]", "[]")
    });
    rejected(&art, "field 'payloads' is empty");
    let art = with_header_member("header-info", |t| {
        t.replace(
            "[{\"type\":\"single-file\"}]",
            "[{\"type\":\"single-file\"},{\"type\":\"single-file\"}]",
        )
    });
    rejected(&art, "lists 2 payloads; only one is supported");
    let mut art = plain();
    let mut members = header(&art);
    let type_info = members
        .iter()
        .find(|m| m.name == "headers/0000/type-info")
        .unwrap()
        .clone();
    members.push(Member {
        name: "headers/0001/type-info".into(),
        ..type_info
    });
    let new_header = tar(&members, Dialect::Ustar);
    art.set("header.tar", new_header.clone());
    art.rehash("header.tar", &new_header, SIGNER);
    rejected(&art, "describes a second payload");
}

#[test]
fn ecdsa_signatures_of_wrong_lengths_and_byte_order() {
    // MEN-9055: lengths around the raw 64 bytes and broken DER must be refused cleanly.
    let mut art = plain();
    art.resign(Signer::EcdsaRaw("ec.key"));
    let good = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        art.get("manifest.sig"),
    )
    .unwrap();
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    for len in [63usize, 65, 69, 73] {
        let mut sig = good.clone();
        sig.resize(len, 0x01);
        variants.push((format!("{len} bytes"), sig));
    }
    let mut der = crate::fixtures::sign(art.get("manifest"), Signer::EcdsaDer("ec.key"));
    der[1] = der[1].wrapping_add(1); // wrong outer length
    variants.push(("malformed DER".into(), der));
    let mut reversed = good.clone();
    reversed[..32].reverse();
    reversed[32..].reverse();
    variants.push(("little-endian r||s".into(), reversed));
    for (what, sig) in variants {
        let text = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &sig);
        art.set("manifest.sig", text.into_bytes());
        let v = Scratch::new().validate(&art.bytes(), "ec.pub");
        assert_eq!(v.code, 1, "{what}: {}", v.stderr);
        assert!(
            v.stderr.contains("not a P-256 ECDSA signature")
                || v.stderr.contains("ECDSA P-256 signature does not match"),
            "{what}: {}",
            v.stderr
        );
    }
}

#[test]
fn oversized_tar_extension_headers_are_refused_before_buffering() {
    // The tar reader buffers PAX and GNU long-name records whole; a record declaring 1 GiB must
    // be refused at its header, not read into memory (the artifact here even ends right after).
    for kind in [tar::EntryType::XHeader, tar::EntryType::GNULongName] {
        let art = plain();
        let mut bytes = tar(&art.members[..1], Dialect::Ustar);
        bytes.truncate(bytes.len() - 1024);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path("././@LongLink").unwrap();
        h.set_size(1 << 30);
        h.set_cksum();
        bytes.extend_from_slice(h.as_bytes());
        rejected_bytes(
            &bytes,
            "tar extension header of 1073741824 bytes is over the limit of 65536 bytes",
        );
    }
}

#[test]
fn oversized_pax_header_inside_the_unsigned_payload_container() {
    // The payload container itself is not covered by the manifest, so a record injected there
    // must be caught by the same guard.
    let mut art = plain();
    let files = payload(&art);
    let mut inner = Vec::new();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_size(100_000);
    h.set_cksum();
    inner.extend_from_slice(h.as_bytes());
    inner.extend(std::iter::repeat_n(b'a', 100_352));
    inner.extend(tar(&files, Dialect::Ustar));
    art.set("data/0000.tar", inner);
    rejected(
        &art,
        "tar extension header of 100000 bytes is over the limit of 65536 bytes",
    );
}
