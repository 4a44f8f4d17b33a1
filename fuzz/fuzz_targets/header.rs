//! The header parser: the (possibly compressed) header tar and the JSON of header-info,
//! type-info and meta-data. The first byte picks the entry name, and so the decompressor the
//! name announces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let name = match pick % 4 {
        0 => "header.tar",
        1 => "header.tar.gz",
        2 => "header.tar.xz",
        _ => "header.tar.zst",
    };
    artifact_gate::fuzzing::header(name, rest);
});
