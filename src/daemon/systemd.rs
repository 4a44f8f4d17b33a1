//! The daemon's edges towards systemd: the readiness and status protocol (`Type=notify`), the
//! watchdog, socket activation, and logging to the journal.
//!
//! Everything here is a no-op outside systemd: without `NOTIFY_SOCKET` nothing is sent, without
//! `WATCHDOG_USEC` no pings run, without `LISTEN_FDS` the daemon binds its own socket, and
//! without `JOURNAL_STREAM` logs go to stderr.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the service is ready (after the socket is listening and any pending install
/// was resumed).
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The current phase, shown by `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// The service is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// When `WatchdogSec=` is set: the interval at which to ping (half the timeout).
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

/// One watchdog keep-alive. It is sent from the runtime's own timer, so a stalled event loop
/// stops the pings and systemd restarts the service.
pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}

/// The listening socket systemd passed (`artifact-gate.socket`), if any.
pub fn activated_listener() -> std::io::Result<Option<std::os::unix::net::UnixListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    fds.take_unix_listener(0)
}

/// Logs to the journal with structured fields when systemd connected stderr to it
/// (`JOURNAL_STREAM`), else plain lines on stderr.
pub fn init_logging(verbose: u8) {
    use tracing_subscriber::prelude::*;
    let level = match verbose {
        0 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journal) = tracing_journald::layer()
    {
        let journal = journal.with_syslog_identifier("artifact-gate".to_owned());
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(journal)
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
