//! Carrying a stopped operation on (issue #16 item 7): the way back after a failure
//! (`ArtifactRollback`, `ArtifactFailure`, `Cleanup`), the end of a commit
//! (`ArtifactCommit_Leave`, `Cleanup`), and the `resume` command, each honouring the
//! `--stop-before` states of [`super::stops`]. A stop saves the stage in the pending record, so
//! `resume` finds it after a restart or a reboot.

use super::context::{InstallContext, InstallError, InstallOutcome, Phase};
use super::flow;
use super::installer::Installed;
use super::kind;
use super::scripts::{Action, StateScripts};
use super::stops::{Stage, StopState};
use crate::state::store::PendingInstall;

impl Stage {
    /// The `--stop-before` state that leaves an operation at this stage.
    pub fn stopped_before(self) -> StopState {
        match self {
            Self::Downloaded => StopState::ArtifactInstallEnter,
            Self::Installed => StopState::ArtifactCommitEnter,
            Self::CommitLeave => StopState::ArtifactCommitLeave,
            Self::Rollback => StopState::ArtifactRollbackEnter,
            Self::Failure => StopState::ArtifactFailureEnter,
            Self::Cleanup { .. } => StopState::Cleanup,
        }
    }
}

/// `commit` and `rollback` act on an installed update only; a stopped one is carried on by
/// `resume` (or dropped by `rollback` before `ArtifactInstall`).
pub(super) fn only_installed(pending: &PendingInstall) -> Result<(), InstallError> {
    if pending.stage.is_installed() {
        return Ok(());
    }
    Err(InstallError::StoppedAt {
        artifact: pending.claims.artifact_name.clone(),
        before: pending.stage.stopped_before(),
    })
}

/// The error path after `ArtifactInstall` or `ArtifactCommit` failed (spec §8.2): undo (roll
/// back where the kind can), `ArtifactFailure` and `Cleanup`, and nothing of the install stays
/// on disk; a `--stop-before` on the way keeps the record at that stage. Their own failures are
/// secondary to the one reported, so they are only logged. When the undo itself fails, the
/// record stays as it is, so that the next start judges the device.
pub(super) fn fail(
    installed: &dyn Installed,
    ctx: &InstallContext,
    pending: &PendingInstall,
    scripts: &StateScripts,
) {
    match run_back(Stage::Rollback, installed, ctx, pending, scripts) {
        Ok(Some(stage)) => tracing::info!(
            "the install failed and stopped before {}; 'resume' carries on",
            stage.next_state()
        ),
        Ok(None) => {}
        Err(e) => tracing::error!("after the failed install: {e}"),
    }
}

/// Runs the stages from `stage` to the end of the operation: the way back (`Rollback`,
/// `Failure`, `Cleanup { failed: true }`) or the end of a commit (`CommitLeave`, `Cleanup`).
/// Returns the stage it stopped at, if a `--stop-before` said so.
pub(super) fn run_back(
    mut stage: Stage,
    installed: &dyn Installed,
    ctx: &InstallContext,
    pending: &PendingInstall,
    scripts: &StateScripts,
) -> Result<Option<Stage>, InstallError> {
    let store = ctx.store();
    let mut post_commit: Option<InstallError> = None;
    loop {
        if ctx.stops.at(stage.stopped_before()) {
            let mut kept = pending.clone();
            kept.stage = stage;
            store.save_pending(&kept)?;
            return Ok(Some(stage));
        }
        stage = match stage {
            Stage::Rollback => {
                if let Err(undo) = installed.undo(scripts) {
                    tracing::error!(
                        "the install failed and could not be undone ({undo}); it stays pending \
                         for the next start to judge"
                    );
                    let mut kept = pending.clone();
                    kept.stage = Stage::Installed;
                    store.save_pending(&kept)?;
                    return Ok(None);
                }
                Stage::Failure
            }
            Stage::Failure => {
                let _ = scripts.around("ArtifactFailure", || installed.failure());
                Stage::Cleanup { failed: true }
            }
            Stage::CommitLeave => {
                // The update is committed: a failing Leave script fails the command, not the
                // update (Mender's "one or more post-commit steps failed").
                if let Err(e) = scripts.run("ArtifactCommit", Action::Leave) {
                    let _ = scripts.run("ArtifactCommit", Action::Error);
                    post_commit = Some(e.into());
                }
                Stage::Cleanup { failed: false }
            }
            Stage::Cleanup { failed: true } => {
                let _ = installed.cleanup();
                installed.discard();
                store.clear_pending()?;
                return Ok(None);
            }
            Stage::Cleanup { failed: false } => {
                store.clear_pending()?;
                installed.cleanup()?;
                return match post_commit {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            Stage::Downloaded | Stage::Installed => {
                return Err(InstallError::StoppedAt {
                    artifact: pending.claims.artifact_name.clone(),
                    before: stage.stopped_before(),
                });
            }
        };
    }
}

/// `resume`: carries on the pending operation from where it stopped, as `mender-update resume`
/// does: `ArtifactInstall` after a stop before it, the commit of an installed update, or the
/// rest of a commit or of the way back. `None` when nothing is in progress.
pub fn resume(ctx: &InstallContext) -> Result<Option<InstallOutcome>, InstallError> {
    let store = ctx.store();
    let _lock = store.lock()?;
    let Some(mut pending) = store.pending()? else {
        return Ok(None);
    };
    let installed = kind::installed_for(ctx, &pending)?;
    let scripts = ctx.scripts();
    let reboot = pending.reboot;
    let stopped = |stage: Stage| {
        Ok(Some(InstallOutcome::Stopped {
            before: stage.stopped_before(),
            reboot,
        }))
    };
    match pending.stage {
        Stage::Downloaded => {
            if ctx.stops.at(StopState::ArtifactInstallEnter) {
                return stopped(Stage::Downloaded);
            }
            // The proof of the verified read was spent when this process's predecessor
            // stopped; the record it wrote after that read, and for an A/B slot a read-back
            // against its hashes, stand in for it.
            ctx.observer.phase(Phase::ArtifactInstall);
            let activated = scripts.around("ArtifactInstall", || {
                installed.activate_staged(&pending.verified_files)
            });
            match activated {
                Ok(reboot) => {
                    flow::after_install(installed.as_ref(), ctx, &mut pending, &scripts, reboot)
                        .map(Some)
                }
                Err(e) => {
                    fail(installed.as_ref(), ctx, &pending, &scripts);
                    Err(e)
                }
            }
        }
        Stage::Installed => {
            if ctx.stops.at(StopState::ArtifactCommitEnter) {
                return stopped(Stage::Installed);
            }
            ctx.observer.phase(Phase::ArtifactCommit);
            Ok(Some(
                match flow::commit_installed(installed.as_ref(), ctx, &pending, &scripts)? {
                    None => InstallOutcome::Committed { reboot },
                    Some(stage) => InstallOutcome::Stopped {
                        before: stage.stopped_before(),
                        reboot,
                    },
                },
            ))
        }
        stage => match run_back(stage, installed.as_ref(), ctx, &pending, &scripts)? {
            Some(stage) => stopped(stage),
            None if matches!(stage, Stage::CommitLeave | Stage::Cleanup { failed: false }) => {
                Ok(Some(InstallOutcome::Committed { reboot }))
            }
            None => Ok(Some(InstallOutcome::RolledBack)),
        },
    }
}
