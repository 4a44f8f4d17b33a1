//! What becomes of a pending install when the service starts: the reboot cycle (issue #4).
//!
//! After `ArtifactInstall` the device reboots into the new system. On the next start the
//! pending install is judged from what the device shows:
//! - the new slot runs and the bootloader still has `upgrade_available=1` → the boot is
//!   verified (`ArtifactVerifyReboot`), and the install is committed when the policy says so;
//! - the old slot runs and the boot variables still point at the new one → no reboot has
//!   happened yet, so the install keeps waiting;
//! - the old slot runs and the bootloader went back (`upgrade_available` cleared or
//!   `mender_boot_part` pointing back) → the new system failed, and the rollback path runs:
//!   `ArtifactRollback`, `ArtifactVerifyRollbackReboot` (the old slot runs), `ArtifactFailure`;
//! - the new slot runs with `upgrade_available=0` → a commit switched the variables but did not
//!   get to record the provides; that is finished.
//!
//! A verified boot whose automatic commit fails (an `ArtifactCommit_Enter` script is the
//! update's own health check) is rolled back as Mender does: the boot variables point at the
//! old slot again, and the result says the device must reboot into it.
//!
//! Which slot runs is taken from the mounted root. Where the mount table cannot say, the boot
//! variables are believed only after a reboot proven by a changed kernel boot ID, so a mere
//! service restart never commits an update that has not booted. Update Modules that asked for a
//! reboot are judged by their own `ArtifactVerifyReboot`, again only after a proven reboot.

use super::context::{Finished, InstallContext, InstallError};
use super::flow;
use super::kind;
use super::rootfs::Slots;
use crate::state::store::{PendingInstall, Store};

/// What the device shows about a pending A/B install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFacts<'a> {
    /// The partition mounted as `/`, when the mount table names one of the two.
    pub running_by_root: Option<u32>,
    /// `mender_boot_part`.
    pub boot_part: Option<u32>,
    /// `upgrade_available`.
    pub upgrade_available: Option<&'a str>,
    /// Whether the kernel's boot ID changed since the install (`None`: not known).
    pub rebooted: Option<bool>,
}

/// The judgement on a pending install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Nothing shows that the device rebooted into the update yet.
    WaitForReboot,
    /// The update runs and the bootloader has not given up on it.
    Verified,
    /// The bootloader went back to the previous system.
    Reverted,
    /// The update runs and is already permanent in the boot variables.
    CommittedUnrecorded,
}

/// Judges a pending A/B install (pure; see the module docs for the rules).
pub fn judge_rootfs(slots: &Slots, facts: &BootFacts<'_>) -> Judgement {
    let (old, new) = (slots.active.number, slots.inactive.number);
    let running = match (facts.running_by_root, facts.rebooted) {
        (Some(n), _) => n,
        // The mount table cannot say: the variables count only after a proven reboot.
        (None, Some(true)) => match facts.boot_part {
            Some(n) => n,
            None => return Judgement::Reverted,
        },
        (None, _) => return Judgement::WaitForReboot,
    };
    let armed = facts.upgrade_available == Some("1");
    if running == new {
        return if armed {
            Judgement::Verified
        } else {
            Judgement::CommittedUnrecorded
        };
    }
    if running == old && armed && facts.boot_part == Some(new) && facts.rebooted != Some(true) {
        return Judgement::WaitForReboot;
    }
    Judgement::Reverted
}

/// What [`resume`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// No install was pending.
    Nothing,
    /// The named install waits for its reboot.
    WaitingForReboot(String),
    /// The named install is verified and waits for an explicit commit.
    WaitingForCommit(String),
    /// The named install was committed.
    Committed(String),
    /// The named operation stopped before a state (`--stop-before`) and waits for `resume`.
    Stopped(String),
    /// The named install failed after its reboot and was rolled back.
    RolledBack(String),
    /// The named install booted, but its commit failed (the error is given), so it was rolled
    /// back. For an A/B update the device still runs the new slot and must reboot into the old.
    CommitFailed {
        /// The artifact's name.
        artifact: String,
        /// Why the commit failed.
        error: crate::error::Failure,
        /// Whether a reboot is needed to get back to the old system.
        reboot: bool,
    },
}

/// Judges the pending install and acts: commit (when `auto_commit`), roll back, or wait.
pub fn resume(ctx: &InstallContext, auto_commit: bool) -> Result<Resumed, InstallError> {
    let store = Store::new(&ctx.paths.datastore_dir);
    let pending = {
        let _lock = store.lock()?;
        store.pending()?
    };
    let Some(pending) = pending else {
        return Ok(Resumed::Nothing);
    };
    let name = pending.claims.artifact_name.clone();
    if !pending.stage.is_installed() {
        // Stopped by --stop-before: it waits for `resume`, whatever happened since.
        tracing::info!(
            artifact = %name,
            "the pending update stopped before {}; 'artifact-gate resume' carries it on",
            pending.stage.next_state()
        );
        return Ok(Resumed::Stopped(name));
    }
    let rebooted = match (&pending.boot_id, crate::state::store::boot_id()) {
        (Some(then), Some(now)) => Some(*then != now),
        _ => None,
    };
    let judgement = judge(ctx, &pending, rebooted)?;
    tracing::info!(artifact = %name, ?judgement, "pending install after start");
    match judgement {
        Judgement::WaitForReboot => Ok(Resumed::WaitingForReboot(name)),
        Judgement::Verified if !auto_commit => Ok(Resumed::WaitingForCommit(name)),
        Judgement::Verified => match flow::commit(ctx) {
            Ok(Finished::Done(name)) => Ok(Resumed::Committed(name)),
            Ok(Finished::NothingPending) => Ok(Resumed::Nothing),
            Ok(Finished::Stopped(_)) => Ok(Resumed::Stopped(name)),
            Err(e) => {
                tracing::warn!(artifact = %name, "commit after reboot failed, rolling back: {e}");
                roll_back(ctx, &store, &pending)?;
                Ok(Resumed::CommitFailed {
                    artifact: name,
                    error: crate::error::Classify::failure(&e),
                    reboot: pending.rootfs.is_some() && pending.supports_rollback,
                })
            }
        },
        Judgement::CommittedUnrecorded => {
            let _lock = store.lock()?;
            store.commit(&pending)?;
            Ok(Resumed::Committed(name))
        }
        Judgement::Reverted => {
            roll_back(ctx, &store, &pending)?;
            Ok(Resumed::RolledBack(name))
        }
    }
}

fn judge(
    ctx: &InstallContext,
    pending: &PendingInstall,
    rebooted: Option<bool>,
) -> Result<Judgement, InstallError> {
    kind::installed_for(ctx, pending)?.judge(rebooted)
}

/// The rollback path after a failed reboot. An install without rollback support still gets
/// `ArtifactFailure` and `Cleanup`, and stops being pending.
fn roll_back(
    ctx: &InstallContext,
    store: &Store,
    pending: &PendingInstall,
) -> Result<(), InstallError> {
    if pending.supports_rollback {
        flow::rollback(ctx)?;
        // Best effort: the kind's own check that the old system is back.
        if let Ok(installed) = kind::installed_for(ctx, pending) {
            installed.verify_rollback_reboot();
        }
        return Ok(());
    }
    let _lock = store.lock()?;
    if let Ok(installed) = kind::installed_for(ctx, pending) {
        let _ = installed.failure();
        let _ = installed.cleanup();
        installed.discard();
    }
    store.clear_pending()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::install::rootfs::Slot;

    fn slots() -> Slots {
        Slots {
            active: Slot {
                path: PathBuf::from("/dev/p2"),
                number: 2,
            },
            inactive: Slot {
                path: PathBuf::from("/dev/p3"),
                number: 3,
            },
        }
    }

    fn facts(
        root: Option<u32>,
        part: u32,
        ua: &'static str,
        rebooted: Option<bool>,
    ) -> BootFacts<'static> {
        BootFacts {
            running_by_root: root,
            boot_part: Some(part),
            upgrade_available: Some(ua),
            rebooted,
        }
    }

    #[test]
    fn new_slot_running_and_armed_is_verified() {
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(3), 3, "1", None)),
            Judgement::Verified
        );
    }

    #[test]
    fn a_restart_before_the_reboot_waits() {
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(2), 3, "1", Some(false))),
            Judgement::WaitForReboot
        );
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(2), 3, "1", None)),
            Judgement::WaitForReboot
        );
    }

    #[test]
    fn the_bootloader_going_back_is_a_revert() {
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(2), 2, "0", Some(true))),
            Judgement::Reverted
        );
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(2), 2, "1", None)),
            Judgement::Reverted
        );
        // Rebooted, yet the old system runs although the variables point at the new one.
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(2), 3, "1", Some(true))),
            Judgement::Reverted
        );
    }

    #[test]
    fn a_commit_that_did_not_record_is_finished() {
        assert_eq!(
            judge_rootfs(&slots(), &facts(Some(3), 3, "0", None)),
            Judgement::CommittedUnrecorded
        );
    }

    #[test]
    fn without_a_root_device_the_variables_count_only_after_a_proven_reboot() {
        assert_eq!(
            judge_rootfs(&slots(), &facts(None, 3, "1", None)),
            Judgement::WaitForReboot
        );
        assert_eq!(
            judge_rootfs(&slots(), &facts(None, 3, "1", Some(false))),
            Judgement::WaitForReboot
        );
        assert_eq!(
            judge_rootfs(&slots(), &facts(None, 3, "1", Some(true))),
            Judgement::Verified
        );
        assert_eq!(
            judge_rootfs(&slots(), &facts(None, 2, "0", Some(true))),
            Judgement::Reverted
        );
    }
}
