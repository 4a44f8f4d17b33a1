//! An update channel on any static web server or CDN (`[channel]` in artifact-gate.toml): one
//! URL that serves the artifact this device should run. The daemon polls it
//! ([`crate::daemon`]); this module decides, for one poll, what to do:
//!
//! 1. a conditional request (`If-None-Match`, else `If-Modified-Since`) with a `Range` for the
//!    artifact's first bytes: an unchanged channel costs a `304` ([`poll`]);
//! 2. otherwise the signed head is read from those bytes (more ranges if the header is large,
//!    [`window`]) and checked as an install checks it ([`head`]): the same `artifact_name` as
//!    installed is nothing to do, a wrong device type or unmet depends is skipped, a bad
//!    signature is refused;
//! 3. only then is the whole artifact streamed into the install flow, as that same version of
//!    the file (its validator), through the resumable download.
//!
//! What a version of the file led to is remembered with its validator ([`memory`]), so a
//! refused or skipped artifact is not fetched again until the channel changes.

pub mod head;
pub mod memory;
pub mod poll;
pub mod window;

use crate::fetch::url::percent_encode;
use serde::{Deserialize, Serialize};

/// `[channel]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The artifact's URL, `https://` only; `{device_type}` and `{artifact_name}` (the
    /// installed one) are filled in.
    pub url: String,
    /// Seconds between polls, each drawn within ±10 % (so a fleet spreads out).
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
}

fn default_poll_seconds() -> u64 {
    1800
}

impl ChannelConfig {
    /// Checks the values that parse but cannot work.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.poll_seconds == 0 {
            return Err(("channel.poll_seconds", "must be at least 1".to_owned()));
        }
        let sample = expand(&self.url, "device", "artifact");
        crate::fetch::url::HttpsUrl::parse(&sample).map_err(|e| ("channel.url", e.to_string()))?;
        let rest = self
            .url
            .replace("{device_type}", "")
            .replace("{artifact_name}", "");
        if rest.contains(['{', '}']) {
            return Err((
                "channel.url",
                "only {device_type} and {artifact_name} may be filled in".to_owned(),
            ));
        }
        Ok(())
    }

    /// The wait before the next poll: `poll_seconds` ± 10 %.
    pub fn next_wait(&self) -> std::time::Duration {
        let spread = 0.9 + 0.2 * crate::fetch::retry::unit_random();
        std::time::Duration::from_secs(self.poll_seconds).mul_f64(spread)
    }
}

/// The URL template with the device's values, percent-encoded (RFC 3986 §2.1) so any name is
/// one path segment.
pub fn expand(template: &str, device_type: &str, artifact_name: &str) -> String {
    template
        .replace("{device_type}", &percent_encode(device_type))
        .replace("{artifact_name}", &percent_encode(artifact_name))
}

/// What one poll found, as `GET /v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResult {
    /// `unchanged`, `nothing published`, `up to date`, `skipped`, `rejected`, `installed`,
    /// `failed`.
    pub result: String,
    /// In words.
    pub detail: String,
    /// The artifact's name, when its head was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_filled_with_encoded_values() {
        assert_eq!(
            expand(
                "https://cdn/{device_type}/after-{artifact_name}.mender",
                "beaglebone",
                "release 1/2"
            ),
            "https://cdn/beaglebone/after-release%201%2F2.mender"
        );
    }

    #[test]
    fn unusable_channels_are_named() {
        let channel = |url: &str, poll_seconds| ChannelConfig {
            url: url.to_owned(),
            poll_seconds,
        };
        assert_eq!(
            channel("https://h/{device_type}.mender", 60).check(),
            Ok(())
        );
        assert_eq!(
            channel("https://h/x", 0).check().unwrap_err().0,
            "channel.poll_seconds"
        );
        assert!(
            channel("http://h/x", 60)
                .check()
                .unwrap_err()
                .1
                .contains("plain http")
        );
        assert!(
            channel("https://h/{device}", 60)
                .check()
                .unwrap_err()
                .1
                .contains("only {device_type}")
        );
    }

    #[test]
    fn polls_spread_within_ten_percent() {
        let c = ChannelConfig {
            url: "https://h/x".to_owned(),
            poll_seconds: 100,
        };
        for _ in 0..50 {
            let wait = c.next_wait().as_secs_f64();
            assert!((90.0..=110.0).contains(&wait), "{wait}");
        }
    }
}
