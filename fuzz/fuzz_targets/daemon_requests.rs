//! What the daemon parses from outside: JSON install requests and its TOML settings. (The
//! HTTP framing is hyper's.)
#![no_main]

use artifact_gate::config::settings::DaemonConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    artifact_gate::fuzzing::install_request(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = DaemonConfig::parse(text).map(|c| c.socket_mode());
    }
});
