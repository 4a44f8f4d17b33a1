//! `artifact-gate daemon`: the service that other agents hand artifacts to (issue #4).
//!
//! It listens on a Unix socket ([`api`]), runs one install, commit or rollback at a time (the
//! same lock as the command line, see [`crate::state::store::Store::lock`]), and on start
//! judges a pending install after its reboot ([`crate::install::resume`]). The blocking
//! installer runs on tokio's blocking pool; the event loop itself only moves bytes and events.
//! Nothing here verifies or installs on its own: it is the same [`crate::install::flow`]
//! path the command line takes.

mod agent;
pub mod api;
pub mod api_client;
pub mod body;
mod channel;
mod deployment;
mod installing;
pub mod peer;
mod serve;
pub mod systemd;
pub mod wire;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::config::mender_conf::MenderPaths;
use crate::config::resolve::{self, Settings};
use crate::config::settings::{DaemonConfig, DaemonConfigError};
use crate::error::{Class, Classify};
use crate::install::context::InstallContext;
use crate::install::resume::{self, Resumed};
use crate::keys::load::BrokenKey;
use wire::{BootCheck, ChannelStatus, Operation, ServerStatus};

pub use serve::run;

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
    /// `[channel]` is set, but `ServerCertificate` cannot be used to reach it.
    #[error("update channel: {0}")]
    Channel(#[from] crate::fetch::tls::TlsSetupError),
    /// mender.conf names a server, but the agent's settings or device key cannot be used.
    #[error("Mender server agent: {0}")]
    Server(#[from] crate::server::ServerError),
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
            Self::Server(e) => e.class().exit_code(),
            Self::Config(_) | Self::Group(_) | Self::Channel(_) => Class::Config.exit_code(),
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
    /// The update channel's state, when `[channel]` is set.
    channel: Mutex<Option<ChannelStatus>>,
    /// The Mender server agent's state, when mender.conf names a server.
    server: Mutex<Option<ServerStatus>>,
    /// Where `check-update` and `send-inventory` go.
    agent: Mutex<Option<std::sync::mpsc::Sender<agent::Trigger>>>,
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

    /// The configuration one operation runs with: artifact-gate.toml as loaded at start,
    /// mender.conf read afresh (once) for the operation.
    fn settings(&self) -> Settings {
        Settings::with_gate(self.paths.clone(), self.config.clone())
    }

    /// The install context of one operation; the unusable key entries are kept for status.
    fn context(&self, settings: &Settings) -> Result<InstallContext, resolve::Error> {
        let ctx = settings.install_context(false)?;
        *self
            .broken_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ctx.broken_keys.clone();
        Ok(ctx)
    }

    /// The channel's state, for `GET /v1/status`.
    fn channel_status(&self) -> Option<ChannelStatus> {
        self.channel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes the channel's state (made when first changed).
    fn update_channel(&self, change: impl FnOnce(&mut ChannelStatus)) {
        let mut state = self
            .channel
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(state.get_or_insert_with(ChannelStatus::default));
    }

    /// The agent's state, for `GET /v1/status`.
    fn server_status(&self) -> Option<ServerStatus> {
        self.server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes the agent's state (made when first changed).
    fn update_server(&self, change: impl FnOnce(&mut ServerStatus)) {
        let mut state = self
            .server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(state.get_or_insert_with(ServerStatus::default));
    }

    /// Hands `trigger` to the agent; `false` when no server is configured.
    fn trigger(&self, trigger: agent::Trigger) -> bool {
        self.agent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|tx| tx.send(trigger).is_ok())
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
        let Ok(ctx) = self.context(&self.settings()) else {
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
        let result = self
            .context(&self.settings())
            .map_err(|e| e.failure())
            .and_then(|ctx| {
                resume::resume(&ctx, self.config.update.auto_commit).map_err(|e| e.failure())
            });
        let check = match result {
            Ok(Resumed::Nothing) => BootCheck::of("nothing pending", None),
            Ok(Resumed::WaitingForReboot(a)) => BootCheck::of("waiting for reboot", Some(a)),
            Ok(Resumed::WaitingForCommit(a)) => {
                BootCheck::of("verified, waiting for commit", Some(a))
            }
            Ok(Resumed::Committed(a)) => BootCheck::of("committed", Some(a)),
            Ok(Resumed::Stopped(a)) => BootCheck::of("stopped, waiting for resume", Some(a)),
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
