//! The channel poller: a thread that checks `[channel]` every `poll_seconds` (with jitter) and
//! installs what [`crate::channel::poll::check`] finds, through the same install path as an API
//! request. One operation at a time: a poll that finds the daemon busy waits for the next turn.
//! Nothing is retried in a tight loop: after any result, including a failure, the next check
//! comes a whole poll interval later.

use std::sync::Arc;
use std::time::SystemTime;

use super::body::Events;
use super::{Daemon, installing};
use crate::artifact::ReadOptions;
use crate::channel::memory::{Memory, Seen};
use crate::channel::poll::{self, Verdict};
use crate::channel::{ChannelConfig, PollResult, expand};
use crate::error::{Class, Classify, Failure};
use crate::fetch::Client;
use crate::fetch::retry::sleep_unless_stopped;
use crate::fetch::url::HttpsUrl;
use crate::policy::DeviceFacts;

/// Starts the poller when a channel is configured.
pub(super) fn spawn(daemon: &Arc<Daemon>) {
    let Some(config) = daemon.config.channel.clone() else {
        return;
    };
    let d = daemon.clone();
    std::thread::spawn(move || run(&d, &config));
}

fn run(daemon: &Arc<Daemon>, config: &ChannelConfig) {
    // The first check soon after start, spread over a tenth of the interval so a fleet that
    // boots at once does not poll at once.
    let mut wait = config.next_wait().mul_f64(0.1);
    loop {
        daemon.update_channel(|s| s.next_check = Some(utc(SystemTime::now() + wait)));
        if !sleep_unless_stopped(wait, Some(&daemon.cancel)) {
            return;
        }
        wait = config.next_wait();
        let Some(guard) = daemon.begin("channel update") else {
            tracing::info!(
                "channel: busy with {}; next check later",
                daemon.current_operation()
            );
            continue;
        };
        let result = poll_once(daemon, config);
        drop(guard);
        tracing::info!(
            result = %result.result,
            artifact = result.artifact_name.as_deref().unwrap_or(""),
            "channel: {}",
            result.detail
        );
        daemon.update_channel(|s| {
            s.last_check = Some(utc(SystemTime::now()));
            s.last_result = Some(result);
        });
    }
}

fn failed(failure: &Failure) -> PollResult {
    PollResult {
        result: "failed".to_owned(),
        detail: format!("{} ({}): {}", failure.code, failure.class, failure.message),
        artifact_name: None,
    }
}

fn poll_once(daemon: &Arc<Daemon>, config: &ChannelConfig) -> PollResult {
    match try_poll(daemon, config) {
        Ok(result) => result,
        Err(failure) => failed(&failure),
    }
}

fn try_poll(daemon: &Arc<Daemon>, config: &ChannelConfig) -> Result<PollResult, Failure> {
    let settings = daemon.settings();
    let ctx = daemon.context(&settings).map_err(|e| e.failure())?;
    let store = ctx.store();
    if let Some(pending) = store.pending().map_err(|e| e.failure())? {
        return Ok(PollResult {
            result: "waiting".to_owned(),
            detail: format!(
                "{} is installed and waits for its reboot or commit",
                pending.claims.artifact_name
            ),
            artifact_name: Some(pending.claims.artifact_name),
        });
    }
    let provides = store.provides().map_err(|e| e.failure())?;
    let installed = provides.artifact_name.clone();
    let url_text = expand(
        &config.url,
        &ctx.device_type,
        installed.as_deref().unwrap_or("unknown"),
    );
    daemon.update_channel(|s| s.url = url_text.clone());
    let url = HttpsUrl::parse(&url_text)
        .map_err(|e| Failure::new(Class::Config, "bad_url", e.to_string()))?;
    let server_certificate = settings.server_certificate().map_err(|e| e.failure())?;
    let client = Client::new(
        server_certificate.as_deref(),
        daemon.config.download.clone(),
    )
    .map_err(|e| e.failure())?
    .with_cancel(daemon.cancel.clone());
    let memory = Memory::new(&ctx.paths.datastore_dir);
    let seen = memory.recall(&url_text);
    let options = ReadOptions {
        signature: ctx.signature.clone(),
        device: DeviceFacts {
            device_type: Some(ctx.device_type.clone()),
            // The floors too, so a release below them is skipped from its head alone.
            floor: ctx
                .floors
                .check(&provides, false)
                .map_err(|e| crate::install::context::InstallError::Floor(e).failure())?,
            provides: Some(provides),
        },
        limits: ctx.limits.clone(),
        expect_manifest_sha256: None,
    };
    let found = poll::check(&client, &url, seen.as_ref(), &options, installed.as_deref())?;
    let remember = |result: &PollResult| {
        if let Some(validator) = &found.validator {
            let seen = Seen {
                url: url_text.clone(),
                validator: validator.clone(),
                result: result.clone(),
            };
            if let Err(e) = memory.remember(&seen) {
                tracing::warn!("channel: cannot remember the result: {e}");
            }
        }
    };
    match found.verdict {
        Verdict::Unchanged => Ok(PollResult {
            result: "unchanged".to_owned(),
            detail: match &seen {
                Some(seen) => format!(
                    "the channel has not changed since it was {} ({})",
                    seen.result.result, seen.result.detail
                ),
                None => "the channel has not changed".to_owned(),
            },
            artifact_name: seen.and_then(|s| s.result.artifact_name),
        }),
        Verdict::NothingPublished => Ok(PollResult {
            result: "nothing published".to_owned(),
            detail: format!("{url_text} does not exist (yet)"),
            artifact_name: None,
        }),
        Verdict::Settled(result) => {
            remember(&result);
            Ok(result)
        }
        Verdict::Install { artifact_name } => {
            tracing::info!(
                "channel: {artifact_name} is new for this device (head: {} bytes); installing",
                found.head_bytes
            );
            let download = client
                .download(&url, found.validator.clone())
                .map_err(|e| e.failure())?;
            let total = download.total();
            let resumes = download.resume_counter();
            let (events, _body) = Events::channel();
            let result = match installing::run_install(
                daemon,
                Some((Box::new(download), total)),
                None,
                &events,
                installing::Hooks::default(),
            ) {
                Ok(done) => PollResult {
                    result: "installed".to_owned(),
                    detail: format!(
                        "{artifact_name}: {}{}",
                        done.status.as_str(),
                        if done.rebooting {
                            ", rebooting"
                        } else if done.reboot_required {
                            ", a reboot is needed"
                        } else {
                            ""
                        }
                    ),
                    artifact_name: Some(artifact_name),
                },
                // A refusal after a resume is not remembered: a server whose validators miss a
                // change (nginx's are size and mtime in seconds) can splice two versions, which
                // the verifier refuses; the next poll downloads the file whole again.
                Err(failure)
                    if failure.class == Class::Rejected
                        && resumes.load(std::sync::atomic::Ordering::Relaxed) > 0 =>
                {
                    let mut result = failed(&failure);
                    result.detail.push_str(
                        " (the download was resumed, so the refusal is not remembered; the \
                         next poll fetches the artifact again)",
                    );
                    return Ok(result);
                }
                Err(failure) if failure.class == Class::Rejected => PollResult {
                    result: "rejected".to_owned(),
                    detail: format!("{} ({}): {}", failure.code, failure.class, failure.message),
                    artifact_name: Some(artifact_name),
                },
                // Not remembered: the next poll tries this version again.
                Err(failure) => return Ok(failed(&failure)),
            };
            remember(&result);
            Ok(result)
        }
    }
}

/// `2026-12-01T23:45:06Z`.
pub(super) fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = |s| utc(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(0), "1970-01-01T00:00:00Z");
        assert_eq!(t(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(t(1_796_168_706), "2026-12-01T23:45:06Z");
    }
}
