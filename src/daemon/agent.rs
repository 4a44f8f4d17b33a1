//! The Mender server agent's loop (issue #15): authenticate, send the inventory at start and
//! every `InventoryPollIntervalSeconds`, ask for a deployment every
//! `UpdatePollIntervalSeconds`, carry it out ([`super::deployment`]), and settle a deployment
//! left in flight by a reboot. `check-update` and `send-inventory` (the API's
//! `POST /v1/check-update` and `/v1/send-inventory`) do either now.
//!
//! Nothing spins: a device the server does not accept yet, a server that cannot be reached
//! and a `5xx` all wait, 1 s, 2 s, 4 s … up to `RetryPollIntervalSeconds` (each wait between
//! half and all of its step), and the count starts again after a success.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use super::Daemon;
use super::channel::utc;
use super::deployment;
use crate::error::Classify;
use crate::fetch::retry::sleep_unless_stopped;
use crate::server::attributes;
use crate::server::deployments::{self, NextEndpoint};
use crate::server::device_key::DeviceKey;
use crate::server::session::Session;
use crate::server::settings::ServerSettings;
use crate::server::{Prepared, ServerError};

/// Work asked for through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// Ask for a deployment now.
    CheckUpdate,
    /// Send the inventory now.
    SendInventory,
}

/// The agent: its session and what it knows of the server.
pub(super) struct Agent {
    pub(super) session: Arc<Session>,
    pub(super) settings: ServerSettings,
    pub(super) endpoint: NextEndpoint,
}

/// Checks the agent's configuration at start, so that a problem stops the daemon (exit 2);
/// see [`crate::server::prepare`].
pub(super) fn prepare(daemon: &Daemon) -> Result<Option<Prepared>, ServerError> {
    let settings = daemon.settings();
    let mender = settings.mender().map_err(setup_error)?;
    let prepared = crate::server::prepare(
        mender,
        &daemon.paths,
        &daemon.config.server,
        daemon.config.download.clone(),
    )?;
    Ok(prepared.map(|p| Prepared {
        client: p.client.with_cancel(daemon.cancel.clone()),
        ..p
    }))
}

/// Starts the agent's thread; returns where to send triggers.
pub(super) fn spawn(daemon: &Arc<Daemon>, prepared: Prepared) -> Sender<Trigger> {
    let (tx, rx) = std::sync::mpsc::channel();
    let d = daemon.clone();
    d.update_server(|s| s.url = prepared.settings.url.to_string());
    std::thread::spawn(move || {
        let Prepared {
            settings,
            client,
            key,
        } = prepared;
        let key = match key {
            Some(key) => key,
            None => loop {
                match DeviceKey::open(&settings.device_key) {
                    Ok(key) => break key,
                    Err(e) => {
                        tracing::error!("server: {e}");
                        record(&d, &e.to_string());
                        if !sleep_unless_stopped(settings.retry_poll, Some(&d.cancel)) {
                            return;
                        }
                    }
                }
            },
        };
        tracing::info!("server: {}, device key {}", settings.url, key.describe());
        let agent = Agent {
            session: Arc::new(Session::new(
                client,
                &settings,
                key,
                d.paths.data_dir.clone(),
            )),
            settings,
            endpoint: NextEndpoint::default(),
        };
        run(&d, &agent, &rx);
    });
    tx
}

/// The wait after `failures` failures in a row.
fn retry_wait(failures: u32, ceiling: Duration) -> Duration {
    let step = Duration::from_secs(1u64 << failures.min(16)).min(ceiling);
    step.mul_f64(0.5 + 0.5 * crate::fetch::retry::unit_random())
}

fn run(daemon: &Arc<Daemon>, agent: &Agent, triggers: &Receiver<Trigger>) {
    let mut failures = 0u32;
    let now = Instant::now();
    let (mut next_update, mut next_inventory) = (now, now);
    let mut retry_at: Option<Instant> = None;
    loop {
        let due = retry_at.unwrap_or_else(|| next_update.min(next_inventory));
        daemon.update_server(|s| {
            s.next_check = Some(utc(
                SystemTime::now() + next_update.saturating_duration_since(Instant::now())
            ));
        });
        match wait(daemon, triggers, due) {
            Waited::Stop => return,
            Waited::Trigger(Trigger::CheckUpdate) => next_update = Instant::now(),
            Waited::Trigger(Trigger::SendInventory) => next_inventory = Instant::now(),
            Waited::Due => {}
        }
        retry_at = None;
        let result = round(daemon, agent, &mut next_update, &mut next_inventory);
        daemon.update_server(|s| s.authenticated = agent.session.is_authenticated());
        match result {
            Ok(()) => failures = 0,
            Err(e) => {
                let wait = retry_wait(failures, agent.settings.retry_poll);
                failures = failures.saturating_add(1);
                let failure = e.failure();
                tracing::warn!(
                    class = %failure.class,
                    code = %failure.code,
                    "server: {}; next attempt in {:.1} s",
                    failure.message,
                    wait.as_secs_f64()
                );
                record(
                    daemon,
                    &format!("{} ({}): {}", failure.code, failure.class, failure.message),
                );
                retry_at = Some(Instant::now() + wait);
            }
        }
    }
}

enum Waited {
    Due,
    Trigger(Trigger),
    Stop,
}

/// Waits until `due`, a trigger or the service's stop.
fn wait(daemon: &Daemon, triggers: &Receiver<Trigger>, due: Instant) -> Waited {
    loop {
        if daemon.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Waited::Stop;
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Waited::Due;
        }
        match triggers.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok(t) => return Waited::Trigger(t),
            Err(RecvTimeoutError::Timeout) => {}
            // The daemon is gone; so is the agent.
            Err(RecvTimeoutError::Disconnected) => return Waited::Stop,
        }
    }
}

/// What the agent did last, for the status.
pub(super) fn record(daemon: &Daemon, what: &str) {
    daemon.update_server(|s| {
        s.last_result = Some(what.to_owned());
        s.last_time = Some(utc(SystemTime::now()));
    });
}

/// One round: authenticate when needed, settle what is in flight, and do what is due.
fn round(
    daemon: &Arc<Daemon>,
    agent: &Agent,
    next_update: &mut Instant,
    next_inventory: &mut Instant,
) -> Result<(), ServerError> {
    if !agent.session.is_authenticated() {
        agent.session.authenticate()?;
        record(daemon, "authenticated");
        *next_inventory = Instant::now();
    }
    deployment::settle(daemon, agent)?;
    if Instant::now() >= *next_inventory {
        send_inventory(daemon, agent)?;
        *next_inventory = Instant::now() + agent.settings.inventory_poll;
    }
    if Instant::now() >= *next_update {
        check_update(daemon, agent)?;
        *next_update = Instant::now() + agent.settings.update_poll;
    }
    Ok(())
}

fn send_inventory(daemon: &Arc<Daemon>, agent: &Agent) -> Result<(), ServerError> {
    let settings = daemon.settings();
    let ctx = daemon.context(&settings).map_err(setup_error)?;
    let provides = ctx.store().provides().map_err(setup_error)?;
    let inventory = attributes::inventory(&ctx.paths.data_dir, &ctx.device_type, &provides);
    deployments::send_inventory(&agent.session, &inventory)?;
    tracing::info!("server: inventory sent ({} attributes)", inventory.len());
    record(daemon, "inventory sent");
    Ok(())
}

fn check_update(daemon: &Arc<Daemon>, agent: &Agent) -> Result<(), ServerError> {
    let settings = daemon.settings();
    let ctx = daemon.context(&settings).map_err(setup_error)?;
    let store = ctx.store();
    if let Some(pending) = store.pending().map_err(setup_error)? {
        tracing::info!(
            "server: {} waits for its reboot or commit; no new deployment now",
            pending.claims.artifact_name
        );
        return Ok(());
    }
    let provides = store.provides().map_err(setup_error)?;
    match deployments::next(&agent.session, &agent.endpoint, &ctx.device_type, &provides)? {
        None => {
            tracing::debug!("server: no deployment");
            record(daemon, "no deployment");
            Ok(())
        }
        Some(d) => deployment::run(daemon, agent, &ctx, &provides, &d),
    }
}

/// A device-side setting or state file that fails in the middle of the agent's work.
pub(super) fn setup_error(e: impl Classify) -> ServerError {
    let f = e.failure();
    ServerError::Device(format!("{} ({}): {}", f.code, f.class, f.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_the_retry_interval() {
        let ceiling = Duration::from_secs(5);
        for failures in 0..40 {
            let w = retry_wait(failures, ceiling);
            let step = Duration::from_secs(1u64 << failures.min(16)).min(ceiling);
            assert!(w >= step / 2 && w <= step, "{failures}: {w:?}");
        }
    }
}
