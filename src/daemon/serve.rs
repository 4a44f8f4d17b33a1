//! The daemon's life: settings and device checks at start, the socket (made here or passed by
//! systemd), the boot check, the accept loop, and a stop that lets a running activation finish.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};

use super::peer::Peer;
use super::{Daemon, DaemonError, STOP_GRACE, api, peer, systemd};
use crate::config::mender_conf::MenderPaths;
use crate::config::settings::DaemonConfig;

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub fn run(config_file: Option<&Path>, verbose: u8) -> Result<u8, DaemonError> {
    systemd::init_logging(verbose);
    let config = DaemonConfig::load(config_file)?;
    let group = config
        .api
        .install_group
        .as_deref()
        .map(peer::group_id)
        .transpose()
        .map_err(DaemonError::Group)?;
    let daemon = Arc::new(Daemon {
        config,
        paths: MenderPaths::from_env(),
        group,
        operation: Mutex::new(None),
        last_resume: Mutex::new(None),
        broken_keys: Mutex::new(Vec::new()),
        cancel: Arc::new(AtomicBool::new(false)),
        stop: tokio::sync::watch::channel(false).0,
        channel: Mutex::new(None),
        server: Mutex::new(None),
        agent: Mutex::new(None),
    });
    // Keys, device type and partitions are checked now: a device that cannot verify must not
    // report itself ready.
    let ctx = daemon.context(&daemon.settings())?;
    for key in &ctx.broken_keys {
        tracing::warn!("verify key not used (the other keys verify): {key}");
    }
    // A channel the daemon could never reach is a configuration error now, not a `failed`
    // poll every interval.
    if daemon.config.channel.is_some() {
        let certificate = daemon.settings().server_certificate()?;
        crate::fetch::tls::TlsClient::new(certificate.as_deref())?;
    }
    // So is a server the agent could never talk to (its settings, certificates, device key).
    let agent = super::agent::prepare(&daemon)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .thread_keep_alive(Duration::from_secs(10))
        .build()?;
    // SIGTERM and SIGINT are caught before the socket exists: a client (or systemd) that sees
    // the socket may stop the daemon at once, and must get a clean stop, not the default kill.
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let _runtime = runtime.enter();
        Signals {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        }
    };
    let (listener, created) = bind(&daemon)?;
    let result = runtime.block_on(serve(daemon, listener, signals, agent));
    if let Some(path) = created {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// The listening socket: systemd's, or our own at `api.socket` with `api.socket_mode` and the
/// install group as its group.
fn bind(
    daemon: &Daemon,
) -> Result<(std::os::unix::net::UnixListener, Option<PathBuf>), DaemonError> {
    if let Some(listener) = systemd::activated_listener()? {
        tracing::info!("using the socket passed by systemd");
        return Ok((listener, None));
    }
    let path = daemon.config.api.socket.clone();
    let fail = |source| DaemonError::Socket {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(DaemonError::AlreadyRunning(path));
        }
        if !meta.file_type().is_socket() {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )));
        }
        // A stale socket from a daemon that died.
        std::fs::remove_file(&path).map_err(fail)?;
    }
    // Nobody may connect before the mode is right: create it private, then open it up.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(&path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(fail)?;
    if let Some(gid) = daemon.group {
        nix::unistd::chown(&path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|e| fail(std::io::Error::from(e)))?;
    }
    let mode = daemon.config.socket_mode().unwrap_or(0o660);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    tracing::info!(socket = %path.display(), mode = format!("{mode:o}"), "listening");
    Ok((listener, Some(path)))
}

/// The stop signals, registered before the socket is made.
struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

async fn serve(
    daemon: Arc<Daemon>,
    listener: std::os::unix::net::UnixListener,
    signals: Signals,
    agent: Option<crate::server::Prepared>,
) -> Result<u8, DaemonError> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let Signals {
        mut term,
        mut interrupt,
    } = signals;

    if let Some(guard) = daemon.begin("boot check") {
        let d = daemon.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            d.resume();
            d.bootstrap();
        })
        .await;
    }
    if let Some(interval) = systemd::watchdog_interval() {
        tokio::spawn(async move {
            loop {
                systemd::watchdog_ping();
                tokio::time::sleep(interval).await;
            }
        });
    }
    super::channel::spawn(&daemon);
    if let Some(prepared) = agent {
        let tx = super::agent::spawn(&daemon, prepared);
        *daemon
            .agent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tx);
    }
    systemd::ready("idle");
    let slots = Arc::new(tokio::sync::Semaphore::new(
        daemon.config.limits.max_connections.max(1),
    ));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = interrupt.recv() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let peer = match stream.peer_cred() {
                    Ok(cred) => Peer {
                        uid: cred.uid(),
                        gid: cred.gid(),
                        pid: cred.pid(),
                    },
                    Err(e) => {
                        tracing::warn!("peer credentials: {e}");
                        continue;
                    }
                };
                let d = daemon.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    let service = hyper::service::service_fn(move |req| {
                        api::handle(d.clone(), peer, req)
                    });
                    let served = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(e) = served {
                        tracing::debug!("connection from uid {}: {e}", peer.uid);
                    }
                });
            }
        }
    }
    tracing::info!("stopping");
    systemd::stopping();
    daemon.cancel.store(true, Ordering::Relaxed);
    daemon.stop.send_replace(true);
    let deadline = Instant::now() + STOP_GRACE;
    while daemon.is_busy() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if daemon.is_busy() {
        tracing::warn!("stopped while an operation was still running; its state is resumable");
    }
    Ok(0)
}
