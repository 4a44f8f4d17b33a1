//! `manifest.sig` decoding and verify-key decoding (PEM, DER, certificates), then a check of
//! the decoded signature with any key that decoded.
#![no_main]

use artifact_gate::signature::{PublicKey, decode_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signature = decode_signature(data);
    if let Ok(key) = PublicKey::from_file_bytes(data) {
        let digest = artifact_gate::stream::sha256(data);
        let _ = key.verify(data, &digest, signature.as_deref().unwrap_or(data));
    }
});
