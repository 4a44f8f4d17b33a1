//! The whole verifier on arbitrary bytes: outer tar and entry order, version, manifest,
//! manifest.sig, the header (when its hash matches), decompression and the payload tar. Run
//! without keys (checksums only), so mutations of a seed get past the signature check and
//! reach everything behind it.
#![no_main]

use std::io::Cursor;

use artifact_gate::artifact::{DiscardSink, ReadOptions, read_artifact};
use artifact_gate::stream::limits::Limits;
use artifact_gate::policy::DeviceFacts;
use artifact_gate::signature::SignaturePolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions {
        signature: SignaturePolicy::DangerAllowUnsigned,
        device: DeviceFacts {
            device_type: Some("beaglebone".to_owned()),
            provides: None,
            floor: None,
        },
        limits: Limits::default(),
        expect_manifest_sha256: None,
    };
    let _ = read_artifact(Cursor::new(data), &options, &mut DiscardSink);
});
