//! SHA-256 of the bytes on the data path: every header and payload file as it flows past, the
//! spooled copy of a payload, and the read-back of a written slot.
//!
//! Backed by `ring` (already linked for TLS), whose SHA-256 is OpenSSL's assembly with the
//! implementation picked at run time: SHA extensions on x86-64 and ARMv8, NEON or scheduled
//! integer code on ARMv7. A BeagleBone's Cortex-A8 has no SHA instructions, and there `sha2`
//! runs its portable Rust: under emulation with NEON off, integer code against integer code,
//! ring's is 1.15-1.23x faster, and OpenSSL measured its NEON variant on the Cortex-A8 another
//! 23 % faster than its integer one (12.5 against 15.4 cycles per byte). `scripts/bench-arm.sh`
//! prints the comparison; docs/performance.md has it with the caveats of emulation. On x86-64
//! both crates use the SHA extensions and run alike. Signature checks keep `sha2`: the
//! RustCrypto signature crates need its `Digest` trait, and they hash a few hundred bytes.

use super::Sha256Digest;

/// An incremental SHA-256.
pub struct Sha256(ring::digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A hash of nothing yet.
    pub fn new() -> Self {
        Self(ring::digest::Context::new(&ring::digest::SHA256))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finalize(self) -> Sha256Digest {
        to_array(&self.0.finish())
    }

    /// The digest of everything added, leaving a fresh hash in its place.
    pub fn finalize_reset(&mut self) -> Sha256Digest {
        std::mem::take(self).finalize()
    }
}

/// The SHA-256 of `data` in one go.
pub fn sha256(data: &[u8]) -> Sha256Digest {
    to_array(&ring::digest::digest(&ring::digest::SHA256, data))
}

fn to_array(digest: &ring::digest::Digest) -> Sha256Digest {
    // A SHA-256 digest is 32 bytes by definition; zip instead of an indexing copy keeps even
    // the impossible case from panicking.
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(digest.as_ref()) {
        *o = *b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "abc" and the 448-bit two-block message.
    #[test]
    fn matches_the_fips_180_4_examples() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    /// Fed in uneven pieces, reset and reused, it agrees with `sha2` on the same bytes.
    #[test]
    fn incremental_and_reset_agree_with_sha2() {
        use sha2::Digest;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let want: Sha256Digest = sha2::Sha256::digest(&data).into();
        let mut h = Sha256::new();
        h.update(b"thrown away by the reset");
        let _ = h.finalize_reset();
        for piece in data.chunks(4093) {
            h.update(piece);
        }
        assert_eq!(h.finalize_reset(), want);
        assert_eq!(h.finalize(), sha256(b""));
        assert_eq!(sha256(&data), want);
    }
}
