//! The install a daemon operation runs, whoever asked for it (the API, the update channel, a
//! Mender deployment): the operation's settings, its progress events, the caller's hooks, the
//! commit when nothing waits for a reboot, and the reboot.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use super::Daemon;
use super::body::{CancellableProgress, Events};
use super::wire::{Event, InstallResult, InstallStatus};
use crate::error::{Class, Classify, Failure};
use crate::install::context::{Finished, InstallOutcome, Observer};
use crate::install::flow;
use crate::install::module::RebootNeed;
use crate::stream::Sha256Digest;

/// An uploaded artifact as a blocking reader, with its announced length.
pub(super) type Streamed = (Box<dyn Read + Send>, Option<u64>);

/// What a server deployment adds to an install: its id (kept with the pending record), a gate
/// asked before `ArtifactInstall`, and one asked before the reboot; an `Err` from either stops
/// the install (before the reboot: rolled back).
#[derive(Default)]
pub(super) struct Hooks {
    pub(super) deployment: Option<String>,
    pub(super) before_install: Option<Box<dyn Fn() -> Result<(), String> + Send + Sync>>,
    pub(super) before_reboot: Option<Box<dyn Fn() -> Result<(), String> + Send + Sync>>,
    /// Only the artifact whose raw manifest has this SHA-256.
    pub(super) expect_manifest_sha256: Option<Sha256Digest>,
}

/// The install itself, on a blocking thread. Returns the final event's content.
pub(super) fn run_install(
    daemon: &Arc<Daemon>,
    stream: Option<Streamed>,
    source: Option<PathBuf>,
    events: &Events,
    hooks: Hooks,
) -> Result<InstallResult, Failure> {
    let settings = daemon.settings();
    let mut ctx = daemon.context(&settings).map_err(|e| e.failure())?;
    let (phase_events, d) = (events.clone(), daemon.clone());
    ctx.observer = Observer::new(move |phase| {
        d.set_phase(phase.name());
        phase_events.send(&Event::Phase {
            phase: phase.name().to_owned(),
        });
    });
    ctx.deployment = hooks.deployment;
    ctx.expect_manifest_sha256 = hooks.expect_manifest_sha256;
    if let Some(gate) = hooks.before_install {
        ctx.observer = ctx.observer.with_gate(move |phase| match phase {
            crate::install::context::Phase::ArtifactInstall => gate(),
            _ => Ok(()),
        });
    }
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = match (stream, source) {
        (Some(stream), _) => stream,
        (None, Some(source)) => settings
            .open_input_sized(&source, Some(daemon.cancel.clone()))
            .map_err(|e| e.failure())?,
        (None, None) => {
            return Err(Failure::new(Class::Config, "bad_request", "no input"));
        }
    };
    let input = CancellableProgress::new(input, total, daemon.cancel.clone(), events.clone());
    let outcome = flow::install(input, &ctx).map_err(|e| e.failure())?;
    let (mut status, reboot) = match outcome {
        InstallOutcome::Committed { reboot } => (InstallStatus::Committed, reboot),
        InstallOutcome::Pending { reboot } => (InstallStatus::Installed, reboot),
        // The API sets no --stop-before, and only `resume` rolls back.
        InstallOutcome::Stopped { reboot, .. } => (InstallStatus::Installed, reboot),
        InstallOutcome::RolledBack => (InstallStatus::Installed, RebootNeed::No),
    };
    if status == InstallStatus::Installed
        && reboot == RebootNeed::No
        && daemon.config.update.auto_commit
    {
        match flow::commit(&ctx).map_err(|e| e.failure())? {
            Finished::Done(_) => status = InstallStatus::Committed,
            Finished::NothingPending | Finished::Stopped(_) => {}
        }
    }
    let rebooting = reboot != RebootNeed::No && daemon.config.update.reboot_after_install;
    tracing::info!(
        result = ?status,
        reboot = reboot.as_str(),
        rebooting,
        "install finished"
    );
    if rebooting {
        if let Some(gate) = hooks.before_reboot
            && let Err(why) = gate()
        {
            let undone = flow::rollback(&ctx).map_err(|e| e.failure());
            return Err(Failure::new(
                Class::Interrupted,
                "deployment_aborted",
                match undone {
                    Ok(_) => format!("{why}; the update was rolled back before the reboot"),
                    Err(e) => format!("{why}; rolling the update back failed: {e}"),
                },
            ));
        }
        daemon.schedule_reboot("into the update");
    }
    Ok(InstallResult {
        status,
        reboot,
        reboot_required: reboot != RebootNeed::No,
        rebooting,
    })
}
