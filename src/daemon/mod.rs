//! `artifact-gate daemon`: the service that other agents hand artifacts to (issue #4).
//!
//! It listens on a Unix socket ([`api`]), runs one install, commit or rollback at a time (the
//! same lock as the command line, see [`crate::state::store::Store::lock`]), and on start
//! judges a pending install after its reboot ([`crate::install::resume`]). The blocking
//! installer runs on tokio's blocking pool; the event loop itself only moves bytes and events.
//! Nothing here verifies or installs on its own: it is the same [`crate::install::flow`]
//! path the command line takes.

pub mod api;
pub mod body;
pub mod client;
pub mod peer;
pub mod systemd;
pub mod wire;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioIo, TokioTimer};
use thiserror::Error;

use crate::config::mender_conf::MenderPaths;
use crate::config::resolve::{self, KeyOverrides};
use crate::config::settings::{DaemonConfig, DaemonConfigError};
use crate::error::{Class, Classify};
use crate::install::bootenv::BootEnv;
use crate::install::context::InstallContext;
use crate::install::grubenv::GrubEnv;
use crate::install::resume::{self, Resumed};
use crate::keys::load::BrokenKey;
use peer::Peer;
use wire::{BootCheck, Operation};

/// How long a stop waits for the running operation to reach a safe point.
const STOP_GRACE: Duration = Duration::from_secs(120);

/// Why the daemon could not run.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// Its TOML file.
    #[error("daemon configuration: {0}")]
    Config(#[from] DaemonConfigError),
    /// mender.conf, the keys or the device type (checked once at start, fail closed).
    #[error("device configuration: {0}")]
    Setup(#[from] resolve::Error),
    /// `install_group`.
    #[error("daemon configuration: install_group: {0}")]
    Group(String),
    /// Another daemon answers on the socket.
    #[error("{0} is in use by a running daemon")]
    AlreadyRunning(PathBuf),
    /// The socket could not be made.
    #[error("API socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime failed.
    #[error("runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

impl DaemonError {
    /// Exit code: 2 for configuration, 3 for the socket and the runtime.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Setup(e) => e.class().exit_code(),
            Self::Config(_) | Self::Group(_) => Class::Config.exit_code(),
            Self::AlreadyRunning(_) | Self::Socket { .. } | Self::Runtime(_) => {
                Class::Failed.exit_code()
            }
        }
    }
}

/// The running operation, for status and busy answers.
#[derive(Debug, Clone)]
struct Activity {
    name: &'static str,
    phase: Option<&'static str>,
    since: Instant,
}

/// The daemon's shared state.
pub struct Daemon {
    config: DaemonConfig,
    paths: MenderPaths,
    group: Option<u32>,
    operation: Mutex<Option<Activity>>,
    last_resume: Mutex<Option<BootCheck>>,
    /// The mender.conf verify-key entries that could not be used when keys were last loaded.
    broken_keys: Mutex<Vec<BrokenKey>>,
    /// Set when the service is stopping: a running download stops before activation.
    cancel: Arc<AtomicBool>,
    /// The same, for the tasks that pump uploads.
    stop: tokio::sync::watch::Sender<bool>,
}

/// Holds the "one operation at a time" slot; dropping it frees the slot.
pub struct OperationGuard {
    daemon: Arc<Daemon>,
}

impl Drop for OperationGuard {
    fn drop(&mut self) {
        *self
            .daemon
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        systemd::status("idle");
    }
}

impl Daemon {
    /// Claims the operation slot for `name`; `None` when another operation runs.
    fn begin(self: &Arc<Self>, name: &'static str) -> Option<OperationGuard> {
        let mut op = self
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if op.is_some() || self.cancel.load(Ordering::Relaxed) {
            return None;
        }
        *op = Some(Activity {
            name,
            phase: None,
            since: Instant::now(),
        });
        systemd::status(name);
        Some(OperationGuard {
            daemon: self.clone(),
        })
    }

    fn is_busy(&self) -> bool {
        self.operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    fn set_phase(&self, phase: &'static str) {
        let mut op = self
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(activity) = op.as_mut() {
            activity.phase = Some(phase);
            systemd::status(&format!("{}: {phase}", activity.name));
        }
    }

    fn current_operation(&self) -> String {
        match &*self
            .operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(a) => match a.phase {
                Some(p) => format!("{} ({p})", a.name),
                None => a.name.to_owned(),
            },
            None if self.cancel.load(Ordering::Relaxed) => "a shutdown".to_owned(),
            None => "another operation".to_owned(),
        }
    }

    fn activity(&self) -> Option<Operation> {
        self.operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(|a| Operation {
                name: a.name,
                phase: a.phase,
                seconds: a.since.elapsed().as_secs(),
            })
    }

    fn last_resume(&self) -> Option<BootCheck> {
        self.last_resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The install context from mender.conf, with the daemon's own boot and limit settings.
    fn context(&self) -> Result<InstallContext, resolve::Error> {
        let mut ctx = resolve::install_context(&self.paths, &KeyOverrides::default(), false)?;
        if let Some(config) = &self.config.boot.fw_env_config {
            ctx.bootenv = BootEnv::UBoot {
                config: Some(config.clone()),
            };
        }
        if let Some(dir) = &self.config.boot.grubenv_dir {
            ctx.bootenv = BootEnv::Grub(GrubEnv::with_system_lock(dir.clone()));
        }
        self.config.limits.apply(&mut ctx.limits);
        *self
            .broken_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ctx.broken_keys.clone();
        Ok(ctx)
    }

    /// The unusable verify-key entries, for `GET /v1/status`.
    fn broken_keys(&self) -> Vec<BrokenKey> {
        self.broken_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// At the first start, `<datastore>/bootstrap.mender` (spec §5.6), verified like any other
    /// artifact; what happened is logged.
    fn bootstrap(&self) {
        let Ok(ctx) = self.context() else {
            // Start-up already checked the context; a later failure is the next install's.
            return;
        };
        let accept = self.config.update.accept_unsigned_bootstrap;
        let done = crate::install::bootstrap::install_bootstrap(&ctx, accept);
        match (&done, done.describe()) {
            (crate::install::bootstrap::Bootstrap::Refused { .. }, Some(line)) => {
                tracing::warn!("{line}");
            }
            (_, Some(line)) => tracing::info!("{line}"),
            (_, None) => {}
        }
    }

    /// The reboot cycle's second half, run once at start.
    fn resume(&self) -> BootCheck {
        let result = self.context().map_err(|e| e.failure()).and_then(|ctx| {
            resume::resume(&ctx, self.config.update.auto_commit).map_err(|e| e.failure())
        });
        let check = match result {
            Ok(Resumed::Nothing) => BootCheck::of("nothing pending", None),
            Ok(Resumed::WaitingForReboot(a)) => BootCheck::of("waiting for reboot", Some(a)),
            Ok(Resumed::WaitingForCommit(a)) => {
                BootCheck::of("verified, waiting for commit", Some(a))
            }
            Ok(Resumed::Committed(a)) => BootCheck::of("committed", Some(a)),
            Ok(Resumed::RolledBack(a)) => BootCheck::of("rolled back", Some(a)),
            Ok(Resumed::CommitFailed {
                artifact,
                error,
                reboot,
            }) => {
                let rebooting = reboot && self.config.update.reboot_after_install;
                if rebooting {
                    self.schedule_reboot("back into the previous system");
                }
                BootCheck {
                    error: Some(error),
                    reboot_required: Some(reboot),
                    rebooting: Some(rebooting),
                    ..BootCheck::of("commit failed, rolled back", Some(artifact))
                }
            }
            Err(failure) => BootCheck {
                error: Some(failure),
                ..BootCheck::of("error", None)
            },
        };
        // The result in the message itself: `journalctl -u artifact-gate` shows it as it is.
        tracing::info!(
            "boot check: {}",
            serde_json::to_string(&check).unwrap_or_default()
        );
        *self
            .last_resume
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(check.clone());
        check
    }

    /// Runs the reboot command a moment after the install's result was sent.
    fn schedule_reboot(&self, into: &'static str) {
        let command = self.config.update.reboot_command.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            let Some((program, args)) = command.split_first() else {
                return;
            };
            tracing::info!(command = ?command, "rebooting {into}");
            if let Err(e) = std::process::Command::new(program).args(args).status() {
                tracing::error!("reboot command failed: {e}");
            }
        });
    }
}

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
    });
    // Keys, device type and partitions are checked now: a device that cannot verify must not
    // report itself ready.
    let ctx = daemon.context()?;
    for key in &ctx.broken_keys {
        tracing::warn!("verify key not used (the other keys verify): {key}");
    }
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
    let result = runtime.block_on(serve(daemon, listener, signals));
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
