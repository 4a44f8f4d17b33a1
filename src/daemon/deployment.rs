//! One Mender deployment, carried out through the same install flow as every other install
//! ([`super::installing::run_install`]), with the statuses the server wants to hear:
//!
//! - `already-installed` when the device runs the deployment's artifact already;
//! - `downloading` before the download (from the deployment's link, with no token: it is often
//!   an object store), `installing` before `ArtifactInstall`, `rebooting` before the reboot;
//! - `success` once committed; `failure` with the deployment log (`PUT …/log`), whose last line
//!   is the classified reason (class, code, message), so the Mender UI shows *why*.
//!
//! A `409` to a report means the deployment was aborted on the server: before `ArtifactInstall`
//! the install stops with nothing changed; before the reboot the update is rolled back.
//!
//! The deployment is kept in the outbox ([`crate::server::outbox`]) from before the download
//! until its final status is delivered; its id also goes into the pending install's record. A
//! deployment that ends across a reboot is settled by [`settle`] once the boot check has
//! committed or rolled it back.

use std::sync::{Arc, Mutex};

use super::Daemon;
use super::agent::{Agent, record, setup_error};
use super::body::Events;
use super::channel::utc;
use super::installing::{self, Hooks};
use super::wire::InstallStatus;
use crate::error::{Class, Classify, Failure};
use crate::fetch::url::HttpsUrl;
use crate::install::context::InstallContext;
use crate::server::ServerError;
use crate::server::deployments::{self, Deployment, LogLine, Status};
use crate::server::outbox::{InFlight, Outbox, Outcome};
use crate::state::provides::Provides;

fn line(level: &str, message: impl Into<String>) -> LogLine {
    LogLine {
        timestamp: utc(std::time::SystemTime::now()),
        level: level.to_owned(),
        message: message.into(),
    }
}

/// Carries out `d`.
pub(super) fn run(
    daemon: &Arc<Daemon>,
    agent: &Agent,
    ctx: &InstallContext,
    provides: &Provides,
    d: &Deployment,
) -> Result<(), ServerError> {
    let session = &agent.session;
    tracing::info!(deployment = %d.id, artifact = %d.artifact_name, "server: deployment");
    if provides.artifact_name.as_deref() == Some(d.artifact_name.as_str()) {
        deployments::report(session, &d.id, Status::AlreadyInstalled)?;
        record(
            daemon,
            &format!(
                "deployment {}: {} is already installed",
                d.id, d.artifact_name
            ),
        );
        return Ok(());
    }
    let outbox = Outbox::new(&ctx.paths.datastore_dir);
    let log = Arc::new(Mutex::new(vec![line(
        "info",
        format!("deployment {} of {} from {}", d.id, d.artifact_name, d.uri),
    )]));
    let refuse = |failure: Failure| -> Result<(), ServerError> {
        fail(daemon, agent, &outbox, d, &log, &failure);
        Ok(())
    };
    if !d.device_types.is_empty() && !d.device_types.contains(&ctx.device_type) {
        return refuse(Failure::new(
            Class::Rejected,
            "device_type_mismatch",
            format!(
                "the deployment's artifact is for {}, not for this device ({})",
                crate::error::escape::quoted_list(&d.device_types),
                ctx.device_type
            ),
        ));
    }
    let Some(guard) = daemon.begin("deployment") else {
        tracing::info!(
            "server: busy with {}; the deployment waits",
            daemon.current_operation()
        );
        return Ok(());
    };
    outbox.save(&InFlight {
        id: d.id.clone(),
        artifact_name: d.artifact_name.clone(),
        log: Vec::new(),
        failed: false,
    })?;
    daemon.update_server(|s| s.deployment = Some(d.id.clone()));
    match deployments::report(session, &d.id, Status::Downloading) {
        Err(ServerError::Aborted { .. }) => {
            drop(guard);
            aborted(daemon, &outbox, d, "before the download");
            return Ok(());
        }
        Err(e) => tracing::warn!("server: cannot report downloading: {e}"),
        Ok(()) => {}
    }
    let download = HttpsUrl::parse(&d.uri)
        .map_err(|e| {
            Failure::new(
                Class::Failed,
                "bad_url",
                format!("the deployment's link: {e}"),
            )
        })
        .and_then(|url| {
            session
                .client()
                .download(&url, None)
                .map_err(|e| e.failure())
        });
    let download = match download {
        Ok(download) => download,
        Err(failure) => {
            drop(guard);
            return refuse(failure);
        }
    };
    let total = download.total();
    let hooks = Hooks {
        deployment: Some(d.id.clone()),
        before_install: Some(gate(agent, d, Status::Installing, &log)),
        before_reboot: Some(gate(agent, d, Status::Rebooting, &log)),
        expect_manifest_sha256: None,
    };
    let (events, _body) = Events::channel();
    let result = installing::run_install(
        daemon,
        Some((Box::new(download), total)),
        None,
        &events,
        hooks,
    );
    drop(guard);
    match result {
        Err(failure) if failure.code == "deployment_aborted" => {
            aborted(daemon, &outbox, d, &failure.message);
        }
        Err(failure) => fail(daemon, agent, &outbox, d, &log, &failure),
        Ok(done) if done.status == InstallStatus::Committed => {
            deliver(daemon, agent, &outbox, d, Status::Success, &[])?;
        }
        Ok(done) => {
            // Pending: the reboot (ours, or the operator's) and the boot check settle it.
            outbox.save(&InFlight {
                id: d.id.clone(),
                artifact_name: d.artifact_name.clone(),
                log: lock(&log).clone(),
                failed: false,
            })?;
            record(
                daemon,
                &format!(
                    "deployment {}: {} installed{}",
                    d.id,
                    d.artifact_name,
                    if done.rebooting {
                        ", rebooting"
                    } else {
                        ", waiting for a reboot or commit"
                    }
                ),
            );
        }
    }
    Ok(())
}

fn lock(log: &Mutex<Vec<LogLine>>) -> std::sync::MutexGuard<'_, Vec<LogLine>> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A hook that reports `status`, stopping the install on a `409`.
fn gate(
    agent: &Agent,
    d: &Deployment,
    status: Status,
    log: &Arc<Mutex<Vec<LogLine>>>,
) -> Box<dyn Fn() -> Result<(), String> + Send + Sync> {
    let session = agent.session.clone();
    let (id, log) = (d.id.clone(), log.clone());
    Box::new(move || {
        lock(&log).push(line("info", status.as_str()));
        match deployments::report(&session, &id, status) {
            Err(ServerError::Aborted { .. }) => Err(format!(
                "deployment {id} was aborted on the server ({} answered 409)",
                status.as_str()
            )),
            Err(e) => {
                tracing::warn!("server: cannot report {}: {e}", status.as_str());
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    })
}

fn aborted(daemon: &Daemon, outbox: &Outbox, d: &Deployment, when: &str) {
    tracing::warn!(deployment = %d.id, "server: the deployment was aborted on the server: {when}");
    if let Err(e) = outbox.clear() {
        tracing::warn!("server: {e}");
    }
    daemon.update_server(|s| s.deployment = None);
    record(
        daemon,
        &format!("deployment {} aborted on the server: {when}", d.id),
    );
}

/// A failed deployment: its log (the classified reason last), then `failure`.
fn fail(
    daemon: &Daemon,
    agent: &Agent,
    outbox: &Outbox,
    d: &Deployment,
    log: &Mutex<Vec<LogLine>>,
    failure: &Failure,
) {
    tracing::error!(
        deployment = %d.id,
        class = %failure.class,
        code = %failure.code,
        "server: deployment failed: {}",
        failure.message
    );
    let mut lines = lock(log).clone();
    lines.push(reason(failure));
    if let Err(e) = deliver(daemon, agent, outbox, d, Status::Failure, &lines) {
        // Kept in the outbox with its log: the next round delivers it.
        tracing::warn!("server: the failure of {} is not delivered yet: {e}", d.id);
        let kept = InFlight {
            id: d.id.clone(),
            artifact_name: d.artifact_name.clone(),
            log: lines,
            failed: true,
        };
        if let Err(e) = outbox.save(&kept) {
            tracing::warn!("server: {e}");
        }
    }
}

fn reason(failure: &Failure) -> LogLine {
    line(
        "error",
        format!("{} ({}): {}", failure.code, failure.class, failure.message),
    )
}

/// Uploads `lines` (for a failure) and reports `status`; then the outbox is cleared.
fn deliver(
    daemon: &Daemon,
    agent: &Agent,
    outbox: &Outbox,
    d: &Deployment,
    status: Status,
    lines: &[LogLine],
) -> Result<(), ServerError> {
    if status == Status::Failure && !lines.is_empty() {
        deployments::upload_log(&agent.session, &d.id, lines)?;
    }
    match deployments::report(&agent.session, &d.id, status) {
        Ok(()) | Err(ServerError::Aborted { .. }) => {}
        Err(e) => return Err(e),
    }
    outbox.clear()?;
    daemon.update_server(|s| s.deployment = None);
    record(
        daemon,
        &format!(
            "deployment {} of {}: {}",
            d.id,
            d.artifact_name,
            status.as_str()
        ),
    );
    tracing::info!(deployment = %d.id, "server: reported {}", status.as_str());
    Ok(())
}

/// A deployment left in flight (by the reboot into it, or a stop): reported once the device's
/// state says how it ended.
pub(super) fn settle(daemon: &Arc<Daemon>, agent: &Agent) -> Result<(), ServerError> {
    let ctx = daemon.context(&daemon.settings()).map_err(setup_error)?;
    let outbox = Outbox::new(&ctx.paths.datastore_dir);
    let Some(kept) = outbox.load()? else {
        return Ok(());
    };
    if daemon.is_busy() {
        return Ok(());
    }
    let store = ctx.store();
    let pending = store.pending().map_err(setup_error)?;
    let provides = store.provides().map_err(setup_error)?;
    let d = Deployment {
        id: kept.id.clone(),
        artifact_name: kept.artifact_name.clone(),
        uri: String::new(),
        device_types: Vec::new(),
    };
    match kept.outcome(pending.as_ref(), &provides) {
        Outcome::Waiting => Ok(()),
        Outcome::Final(Status::Success, _) => {
            deliver(daemon, agent, &outbox, &d, Status::Success, &[])
        }
        // A failure whose delivery failed: its log is complete.
        Outcome::Final(status, _) if kept.failed => {
            deliver(daemon, agent, &outbox, &d, status, &kept.log)
        }
        Outcome::Final(status, why) => {
            let mut lines = kept.log.clone();
            if let Some(error) = daemon.last_resume().and_then(|c| c.error) {
                lines.push(reason(&error));
            }
            if let Some(why) = why {
                lines.push(line("error", why));
            }
            deliver(daemon, agent, &outbox, &d, status, &lines)
        }
    }
}
