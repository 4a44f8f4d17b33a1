//! The manifest parser (spec §3.2): strict lines of digest, two spaces, path.
#![no_main]

use artifact_gate::artifact::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(data, 10_000, 255);
});
