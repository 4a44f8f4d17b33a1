//! `install`, `commit` and `rollback`, for every payload kind (spec §8.2): the order of the
//! states, the scripts around them and every failure path, written once over the
//! [`super::installer::Installer`] and [`super::installer::Installed`] traits. The command line, the daemon, the post-reboot check
//! and the bootstrap artifact all install through here.
//!
//! `install` verifies and downloads in one pass, then runs `ArtifactInstall`. An install that
//! can be rolled back stays pending until `commit` or `rollback` (A/B updates always can);
//! otherwise it is committed at once. Empty-payload artifacts commit their provides at once.

use std::io::Read;

use super::context::{
    Finished, InstallContext, InstallError, InstallOutcome, InstalledReport, PendingReport, Phase,
};
use super::download::ModuleSetup;
use super::installer::{Installed, Router};
use super::kind;
use super::module::{CurrentSystem, RebootNeed};
use super::scripts::StateScripts;
use super::staged;
use super::stops::{Stage, StopState};
use crate::artifact::{self, ReadOptions, VerifiedArtifact};
use crate::config::mender_conf::MenderPaths;
use crate::policy::DeviceFacts;
use crate::state::provides::ArtifactClaims;
use crate::state::store::{PendingInstall, StagedFile, Store};

/// Verifies `input` and installs it.
pub fn install<R: Read>(input: R, ctx: &InstallContext) -> Result<InstallOutcome, InstallError> {
    let store = ctx.store();
    let _lock = store.lock()?;
    if let Some(pending) = store.pending()? {
        return Err(InstallError::Busy(pending.claims.artifact_name));
    }
    let provides = store.provides()?;
    // Read before the first byte of the artifact, checked before any payload byte moves.
    let floor = ctx.floors.check(&provides, ctx.allow_downgrade)?;
    let options = ReadOptions {
        signature: ctx.signature.clone(),
        device: DeviceFacts {
            device_type: Some(ctx.device_type.clone()),
            provides: Some(provides.clone()),
            floor,
        },
        limits: ctx.limits.clone(),
        expect_manifest_sha256: ctx.expect_manifest_sha256,
    };
    let setup = ModuleSetup {
        data_dir: ctx.paths.data_dir.clone(),
        tree_root: ctx
            .paths
            .datastore_dir
            .join("modules/v3/payloads/0000/tree"),
        current: CurrentSystem {
            artifact_name: provides
                .artifact_name
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            artifact_group: provides.artifact_group.clone().unwrap_or_default(),
            device_type: ctx.device_type.clone(),
        },
        timeout: ctx.module_timeout,
        spool: ctx.spool.clone(),
    };
    let mut router = Router::new(ctx, setup);
    ctx.observer.phase(Phase::Download);
    let verified = match artifact::read_artifact(input, &options, &mut router) {
        Ok(verified) => verified,
        Err(e) => {
            router.abort();
            return Err(e.into());
        }
    };
    log_trust(&verified);
    let header = verified.header();
    let (mut installer, mut download) = router.finish()?;
    let scripts = ctx.scripts();
    // The end of the download, then what `ArtifactInstall` needs; a failure here is still a
    // Download failure: only `Cleanup` runs (spec §8.2).
    let ready = installer
        .end_download(&verified)
        .inspect_err(|_| download.fail())
        .and_then(|()| download.leave())
        .and_then(|()| match installer.installed() {
            None => Ok(None),
            Some(installed) => {
                scripts.install_artifact_scripts(header.scripts())?;
                // Asked before the record is written, as the Go client does.
                let rollback = installed.supports_rollback()?;
                Ok(Some((rollback, installer.record()?)))
            }
        });
    // The caller's last word before anything changes (a deployment aborted on the server).
    let ready = ready.and_then(|r| {
        if r.is_some() {
            ctx.observer.may_enter(Phase::ArtifactInstall)?;
        }
        Ok(r)
    });
    let (rollback, record) = match ready {
        Ok(Some(ready)) => ready,
        Ok(None) => {
            // An empty payload: nothing to run, the provides change at once (spec §5.6).
            let raised = ctx.floors.raise(&provides, header.provides());
            store.save_provides(&provides.after_commit(header))?;
            floor_raised(raised, header.artifact_name())?;
            return Ok(InstallOutcome::Committed {
                reboot: RebootNeed::No,
            });
        }
        Err(e) => {
            installer.abort();
            return Err(e);
        }
    };
    // The install is recorded before anything changes the system, so a power cut in the
    // middle leaves a record that commit or rollback can act on.
    let mut pending = PendingInstall {
        claims: ArtifactClaims::of(header),
        payload_type: record.payload_type,
        tree: record.tree,
        reboot: record.reboot,
        supports_rollback: rollback,
        rootfs: record.rootfs,
        boot_id: crate::state::store::boot_id(),
        deployment: ctx.deployment.clone(),
        stage: Stage::Installed,
        verified_files: Vec::new(),
    };
    if ctx.stops.at(StopState::ArtifactInstallEnter) {
        // Downloaded and verified; `resume` runs ArtifactInstall (Mender 5's --stop-before).
        pending.stage = Stage::Downloaded;
        pending.verified_files = verified
            .files()
            .iter()
            .map(|f| StagedFile {
                name: f.name().to_string(),
                size: f.size(),
                sha256: hex::encode(f.sha256()),
            })
            .collect();
        store.save_pending(&pending)?;
        return Ok(InstallOutcome::Stopped {
            before: StopState::ArtifactInstallEnter,
            reboot: pending.reboot,
        });
    }
    store.save_pending(&pending)?;
    ctx.observer.phase(Phase::ArtifactInstall);
    let activated = scripts.around("ArtifactInstall", || installer.activate(&verified));
    let Some(installed) = installer.installed() else {
        return Err(InstallError::from(
            super::download::DownloadError::DidNotFinish,
        ));
    };
    match activated {
        Ok(reboot) => after_install(installed, ctx, &mut pending, &scripts, reboot),
        Err(e) => {
            staged::fail(installed, ctx, &pending, &scripts);
            Err(e)
        }
    }
}

/// After `ArtifactInstall`: the install waits for commit or rollback when its kind can roll
/// back (or `--stop-before ArtifactCommit_Enter` says so), else it is committed at once.
pub(super) fn after_install(
    installed: &dyn Installed,
    ctx: &InstallContext,
    pending: &mut PendingInstall,
    scripts: &StateScripts,
    reboot: RebootNeed,
) -> Result<InstallOutcome, InstallError> {
    pending.reboot = reboot;
    pending.stage = Stage::Installed;
    pending.verified_files.clear();
    if pending.supports_rollback || ctx.stops.at(StopState::ArtifactCommitEnter) {
        ctx.store().save_pending(pending)?;
        return Ok(InstallOutcome::Pending { reboot });
    }
    Ok(match commit_installed(installed, ctx, pending, scripts)? {
        None => InstallOutcome::Committed { reboot },
        Some(stage) => InstallOutcome::Stopped {
            before: stage.stopped_before(),
            reboot,
        },
    })
}

/// What is installed and what waits for commit or rollback. `broken_verify_keys` is left
/// empty for the caller, which knows which keys it loaded.
pub fn status(paths: &MenderPaths) -> Result<InstalledReport, InstallError> {
    let store = Store::new(&paths.datastore_dir);
    let provides = store.provides()?;
    let pending = store.pending()?;
    Ok(InstalledReport {
        artifact_name: provides.artifact_name,
        artifact_group: provides.artifact_group,
        pending: pending.map(|p| PendingReport {
            artifact_name: p.claims.artifact_name,
            payload_type: p.payload_type,
            reboot: p.reboot,
            supports_rollback: p.supports_rollback,
        }),
        broken_verify_keys: Vec::new(),
    })
}

/// `commit`: runs `ArtifactCommit` and `Cleanup`, then records the new provides.
pub fn commit(ctx: &InstallContext) -> Result<Finished, InstallError> {
    let store = ctx.store();
    let _lock = store.lock()?;
    let Some(pending) = store.pending()? else {
        return Ok(Finished::NothingPending);
    };
    staged::only_installed(&pending)?;
    if ctx.stops.at(StopState::ArtifactCommitEnter) {
        return Ok(Finished::Stopped(StopState::ArtifactCommitEnter));
    }
    ctx.observer.phase(Phase::ArtifactCommit);
    let installed = kind::installed_for(ctx, &pending)?;
    if let Some(stage) = commit_installed(installed.as_ref(), ctx, &pending, &ctx.scripts())? {
        return Ok(Finished::Stopped(stage.stopped_before()));
    }
    Ok(Finished::Done(pending.claims.artifact_name))
}

/// `rollback`: runs `ArtifactRollback`, `ArtifactFailure` and `Cleanup`; the provides stay.
pub fn rollback(ctx: &InstallContext) -> Result<Finished, InstallError> {
    let store = ctx.store();
    let _lock = store.lock()?;
    let Some(pending) = store.pending()? else {
        return Ok(Finished::NothingPending);
    };
    if pending.stage == Stage::Downloaded {
        // Stopped before ArtifactInstall: nothing changed, so rolling back is dropping it.
        let installed = kind::installed_for(ctx, &pending)?;
        let _ = installed.cleanup();
        installed.discard();
        store.clear_pending()?;
        return Ok(Finished::Done(pending.claims.artifact_name));
    }
    staged::only_installed(&pending)?;
    if !pending.supports_rollback {
        return Err(InstallError::NoRollback(pending.claims.artifact_name));
    }
    if ctx.stops.at(StopState::ArtifactRollbackEnter) {
        return Ok(Finished::Stopped(StopState::ArtifactRollbackEnter));
    }
    ctx.observer.phase(Phase::ArtifactRollback);
    let installed = kind::installed_for(ctx, &pending)?;
    let scripts = ctx.scripts();
    scripts.around("ArtifactRollback", || installed.rollback())?;
    let rest = staged::run_back(Stage::Failure, installed.as_ref(), ctx, &pending, &scripts)?;
    Ok(match rest {
        Some(stage) => Finished::Stopped(stage.stopped_before()),
        None => Finished::Done(pending.claims.artifact_name),
    })
}

/// `ArtifactCommit` with its scripts, then the floors rise, the new provides are recorded and
/// `Cleanup` runs. A failed commit fails the install, unless its kind leaves it for the next
/// start to judge.
///
/// `--stop-before ArtifactCommit_Leave` or `Cleanup` keeps the record at that stage (the
/// provides are recorded either way) and returns it.
pub(super) fn commit_installed(
    installed: &dyn Installed,
    ctx: &InstallContext,
    pending: &PendingInstall,
    scripts: &StateScripts,
) -> Result<Option<Stage>, InstallError> {
    let store = ctx.store();
    let stop = if ctx.stops.at(StopState::ArtifactCommitLeave) {
        Some(Stage::CommitLeave)
    } else if ctx.stops.at(StopState::Cleanup) {
        Some(Stage::Cleanup { failed: false })
    } else {
        None
    };
    let committed = if stop == Some(Stage::CommitLeave) {
        scripts.enter("ArtifactCommit", || installed.commit())
    } else {
        scripts.around("ArtifactCommit", || installed.commit())
    };
    if let Err(e) = committed {
        if !installed.judged_at_next_start() {
            staged::fail(installed, ctx, pending, scripts);
        }
        return Err(e);
    }
    // The system is committed now, whatever happens to the floor: the commit completes, and a
    // floor that could not rise is reported (the next read never puts it below the provides).
    let raised = ctx
        .floors
        .raise(&store.provides()?, &pending.claims.provides);
    match stop {
        Some(stage) => store.commit_to(pending, stage)?,
        None => {
            store.commit(pending)?;
            installed.cleanup()?;
        }
    }
    floor_raised(raised, &pending.claims.artifact_name)?;
    Ok(stop)
}

fn floor_raised(
    raised: Result<(), crate::state::floor::FloorError>,
    artifact: &str,
) -> Result<(), InstallError> {
    raised.map_err(|source| {
        tracing::error!("committed {artifact}, but its floor was not raised: {source}");
        InstallError::FloorNotRaised {
            artifact: artifact.to_owned(),
            source,
        }
    })
}

fn log_trust(verified: &VerifiedArtifact) {
    let name = verified.header().artifact_name();
    match &verified.trust() {
        crate::signature::Trust::Verified { key, scheme, .. } => tracing::info!(
            artifact = %name,
            key = %key,
            scheme = scheme.name(),
            "artifact verified"
        ),
        crate::signature::Trust::DangerUnverified { .. } => tracing::warn!(
            artifact = %name,
            "artifact checksums verified, but no signature was required"
        ),
    }
}
