//! How hard a download tries: `[download]` in artifact-gate.toml, and the back-off between
//! attempts (exponential, with jitter so a fleet cut off at once does not reconnect at once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `[download]`: retries, stall timeout, overall deadline and an optional rate cap.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DownloadPolicy {
    /// Attempts in a row that bring no new byte before the download gives up. A resume that
    /// moves the download on starts the count again; the deadline bounds the whole.
    pub retries: u32,
    /// A read that waits this long for the next byte counts as a dropped connection.
    pub stall_seconds: u64,
    /// The whole download, resumes and waits included, must end within this.
    pub deadline_seconds: u64,
    /// Reads no faster than this on average (bytes per second), so an update does not take
    /// the device's whole link. Unset: as fast as the link goes.
    pub max_bytes_per_second: Option<u64>,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self {
            retries: 10,
            stall_seconds: 60,
            deadline_seconds: 6 * 3600,
            max_bytes_per_second: None,
        }
    }
}

impl DownloadPolicy {
    /// The keys whose values cannot be used, with why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.stall_seconds == 0 {
            return Err(("download.stall_seconds", "must be at least 1"));
        }
        if self.deadline_seconds == 0 {
            return Err(("download.deadline_seconds", "must be at least 1"));
        }
        if self.max_bytes_per_second == Some(0) {
            return Err((
                "download.max_bytes_per_second",
                "must be at least 1 (leave it out for no cap)",
            ));
        }
        Ok(())
    }

    /// The stall timeout.
    pub fn stall(&self) -> Duration {
        Duration::from_secs(self.stall_seconds)
    }

    /// The overall deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_seconds)
    }
}

/// The wait before attempt `failures + 1`: 1 s, 2 s, 4 s … up to `cap`, each drawn between
/// half and all of that (jitter).
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let full = Duration::from_secs(1u64 << failures.min(16)).min(cap);
    let half = full / 2;
    half + half.mul_f64(unit_random())
}

/// Sleeps `wait` in steps of at most 200 ms, ending early when `stop` is set; `false` when it
/// did (the service is stopping).
pub fn sleep_unless_stopped(wait: Duration, stop: Option<&AtomicBool>) -> bool {
    let stopped = || stop.is_some_and(|flag| flag.load(Ordering::Relaxed));
    let end = Instant::now() + wait;
    loop {
        if stopped() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(200)));
    }
}

/// A number in [0, 1) that differs between processes and calls; good enough to spread
/// reconnects, not for anything secret.
pub fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_below_each_step() {
        let cap = Duration::from_secs(60);
        for failures in 0..20 {
            let full = Duration::from_secs(1u64 << failures.min(16)).min(cap);
            let wait = backoff(failures, cap);
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
        let draws: std::collections::HashSet<_> = (0..20).map(|_| backoff(5, cap)).collect();
        assert!(draws.len() > 1, "no jitter");
    }

    #[test]
    fn unusable_values_are_named() {
        let mut policy = DownloadPolicy::default();
        assert_eq!(policy.check(), Ok(()));
        policy.max_bytes_per_second = Some(0);
        assert_eq!(
            policy.check().unwrap_err().0,
            "download.max_bytes_per_second"
        );
        policy.stall_seconds = 0;
        assert_eq!(policy.check().unwrap_err().0, "download.stall_seconds");
    }
}
