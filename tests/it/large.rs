//! Payload members just over 2 GiB, 4 GiB and 8 GiB, streamed from a generator (nothing
//! touches the disk), to catch size overflows (issue #6). Under 8 GiB the sizes sit in the
//! octal fields; over it they live in a PAX record inside the payload tar and in a GNU
//! base-256 field in the outer tar, the two encodings Go's tar writer falls back to for large
//! images (spec §1.3).

use std::io::{Cursor, Read};

use base64::Engine;
use sha2::Digest;

use artifact_gate::artifact::{self, DiscardSink};

use crate::fixtures::{Art, Signer, sha256_hex, sign};

const BIG: u64 = 8 * 1024 * 1024 * 1024 + 1;

fn member_header(name: &str, size: u64, gnu: bool) -> Vec<u8> {
    let mut h = if gnu {
        tar::Header::new_gnu()
    } else {
        tar::Header::new_ustar()
    };
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn padded(mut data: Vec<u8>) -> Vec<u8> {
    let rem = data.len() % 512;
    if rem != 0 {
        data.resize(data.len() + 512 - rem, 0);
    }
    data
}

fn small_member(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = member_header(name, data.len() as u64, false);
    out.extend(padded(data.to_vec()));
    out
}

/// SHA-256 of the zero runs these tests stream, made once with
/// `head -c N /dev/zero | sha256sum` (and `openssl dgst -sha256`, which agreed). Hashing
/// gigabytes again for the manifest only doubled the tests' time, most of all under ARM
/// emulation; a wrong value here fails the test, it cannot make one pass.
const ZERO_RUN_DIGESTS: [(u64, &str); 3] = [
    (
        (2 << 30) + 1,
        "b8030a8ab89280935633d8d991da3d9907c0f12e8b6fc3bfc515f4d440872b6e",
    ),
    (
        (4 << 30) + 1,
        "fbb82f7b353676bb562eb82157fcf0ea42c36492ca13ee56dbf82c08b6802c5c",
    ),
    (
        BIG,
        "b47800cd5a0c0bd2a7d6c2ac9402cc117bbe89363299bdc51f8a72aef8543693",
    ),
];

fn zeros_digest(len: u64) -> String {
    if let Some((_, known)) = ZERO_RUN_DIGESTS.iter().find(|(n, _)| *n == len) {
        return (*known).to_owned();
    }
    let mut h = sha2::Sha256::new();
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        h.update(&chunk[..n]);
        left -= n as u64;
    }
    hex::encode(h.finalize())
}

/// Streams a signed artifact whose payload holds one member of `size` zero bytes and checks it
/// verifies with that size. Members of 8 GiB or more need a PAX size record inside the payload
/// and a GNU base-256 size in the outer tar; smaller ones use the plain octal fields.
fn verify_big_member(size: u64) {
    let base = Art::open("mod-none.mender");
    let version = base.get("version").to_vec();
    let header = base.get("header.tar").to_vec();
    let manifest = format!(
        "{}  data/0000/big.img\n{}  header.tar\n{}  version\n",
        zeros_digest(size),
        sha256_hex(&header),
        sha256_hex(&version)
    );
    let sig = base64::engine::general_purpose::STANDARD
        .encode(sign(manifest.as_bytes(), Signer::Rsa("rsa.key")));

    let octal_max = 8 * 1024 * 1024 * 1024 - 1;
    let mut inner_head = Vec::new();
    if size > octal_max {
        // A PAX 'x' record carrying the size, then the member with a zero size field.
        let record = {
            let body = format!(" size={size}\n");
            let len = body.len() + 2;
            format!("{len}{body}")
        };
        let mut pax = tar::Header::new_ustar();
        pax.set_path("PaxHeaders/big.img").unwrap();
        pax.set_entry_type(tar::EntryType::XHeader);
        pax.set_size(record.len() as u64);
        pax.set_mode(0o600);
        pax.set_cksum();
        inner_head.extend(pax.as_bytes());
        inner_head.extend(padded(record.into_bytes()));
        inner_head.extend(member_header("big.img", 0, false));
    } else {
        inner_head.extend(member_header("big.img", size, false));
    }
    let inner_tail_len = (512 - size % 512) % 512 + 1024;
    let inner_len = inner_head.len() as u64 + size + inner_tail_len;

    let mut prefix = small_member("version", &version);
    prefix.extend(small_member("manifest", manifest.as_bytes()));
    prefix.extend(small_member("manifest.sig", sig.as_bytes()));
    prefix.extend(small_member("header.tar", &header));
    prefix.extend(member_header(
        "data/0000.tar",
        inner_len,
        inner_len > octal_max,
    ));
    prefix.extend(&inner_head);
    let outer_pad = (512 - inner_len % 512) % 512;
    let suffix = vec![0u8; (inner_tail_len + outer_pad + 1024) as usize];

    let stream = Cursor::new(prefix)
        .chain(std::io::repeat(0).take(size))
        .chain(Cursor::new(suffix));
    let options = crate::fixtures::signed_by("rsa.pub");
    let verified = artifact::read_artifact(stream, &options, &mut DiscardSink).unwrap();
    assert_eq!(verified.files().len(), 1);
    assert_eq!(verified.files()[0].name(), "big.img");
    assert_eq!(verified.files()[0].size(), size);
}

#[test]
fn payload_member_just_over_2_gib() {
    // Past i32::MAX: a signed 32-bit size would go negative here.
    verify_big_member((2 << 30) + 1);
}

#[test]
fn payload_member_just_over_4_gib() {
    // Past u32::MAX: a 32-bit size would wrap to 1 byte here.
    verify_big_member((4 << 30) + 1);
}

#[test]
fn payload_member_larger_than_8_gib() {
    verify_big_member(BIG);
}
