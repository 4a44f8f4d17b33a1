//! The daemon's edges towards systemd: the readiness and status protocol (`Type=notify`), the
//! watchdog, socket activation, and logging to the journal.
//!
//! Everything here is a no-op outside systemd: without `NOTIFY_SOCKET` nothing is sent, without
//! `WATCHDOG_USEC` no pings run, without `LISTEN_FDS` the daemon binds its own socket, and
//! without `JOURNAL_STREAM` logs go to stderr.

use std::time::Duration;

/// Tells systemd the service is ready (after the socket is listening and any pending install
/// was resumed).
pub fn ready(status: &str) {
    send(&format!("READY=1\nSTATUS={status}"));
}

/// The current phase, shown by `systemctl status`.
pub fn status(status: &str) {
    send(&format!("STATUS={status}"));
}

/// The service is shutting down.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=stopping");
}

/// One watchdog keep-alive. It is sent from the runtime's own timer, so a stalled event loop
/// stops the pings and systemd restarts the service.
pub fn watchdog_ping() {
    send("WATCHDOG=1");
}

/// Sends one notification to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
/// The send never blocks: a notification that does not fit the queue is dropped with a log
/// line, because a slow listener must not stall installs or the event loop.
fn send(message: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else {
        return;
    };
    let result = (|| {
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        let bytes = target.as_encoded_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name)?
            }
            None => SocketAddr::from_pathname(std::path::Path::new(&target))?,
        };
        socket.send_to_addr(message.as_bytes(), &addr)
    })();
    if let Err(e) = result {
        tracing::debug!("cannot notify systemd ({message:?}): {e}");
    }
}

/// When `WatchdogSec=` is set (`WATCHDOG_USEC`, for this process per `WATCHDOG_PID`): the
/// interval at which to ping, half the timeout.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
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
        // Fields keep their own names (PHASE, ARTIFACT, KEY, RESULT), not F_-prefixed ones.
        let journal = journal
            .with_syslog_identifier("artifact-gate".to_owned())
            .with_field_prefix(None);
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
