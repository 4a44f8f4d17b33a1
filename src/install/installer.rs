//! The two traits every payload kind implements, and the sink that routes a verified header's
//! payload to its kind.
//!
//! An [`Installer`] is fed the payload while the artifact is read and activates it with the
//! proof of that read; an [`Installed`] is the update afterwards, fresh or found again through
//! its pending record, and knows how to commit, roll back and clean up. The order in which
//! these are called, the state scripts around them and every failure path are written once, in
//! [`super::flow`] and [`super::resume`]. A new payload kind is one new file in
//! [`super::kind`] and one arm in its `installer_for`.

use std::io::Read;
use std::path::PathBuf;

use super::context::{InstallContext, InstallError};
use super::download::{DownloadError, ModuleSetup};
use super::kind;
use super::module::RebootNeed;
use super::resume::Judgement;
use super::rootfs::Slots;
use super::scripts::{Action, StateScripts};
use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, PayloadType, SinkError, VerifiedArtifact,
    VerifiedFile,
};
use crate::signature::VerifiedManifest;
use crate::state::store::StagedFile;

/// A payload kind's installer while the artifact streams in, up to `ArtifactInstall`.
///
/// As a [`PayloadSink`] it receives the payload's files, unverified until the read returns
/// `Ok`; only then does the flow hand it the read's [`VerifiedArtifact`].
pub trait Installer: PayloadSink {
    /// Ends the download after a verified read, given that read's proof.
    fn end_download(&mut self, proof: &VerifiedArtifact) -> Result<(), InstallError>;

    /// Stops whatever is still receiving the payload, so it never sees a clean end (the read
    /// failed).
    fn stop(&mut self);

    /// Removes what the download left behind after a failure before `ArtifactInstall`
    /// (spec §8.2: a Download failure runs only `Cleanup`). Failures are only logged.
    fn abort(&mut self);

    /// What the pending record keeps about this install, so that the flow
    /// finds it again after a restart.
    fn record(&self) -> Result<Record, InstallError>;

    /// `ArtifactInstall`, with the proof of the read that fed this installer.
    fn activate(&mut self, proof: &VerifiedArtifact) -> Result<RebootNeed, InstallError>;

    /// The update once downloaded: `None` for a payload with nothing to install (its provides
    /// are committed at once, spec §5.6).
    fn installed(&self) -> Option<&dyn Installed>;
}

/// An installed update, between `ArtifactInstall` and its commit or rollback.
pub trait Installed {
    /// Whether it can be rolled back (`SupportsRollback`).
    fn supports_rollback(&self) -> Result<bool, InstallError>;

    /// `ArtifactInstall` of an install that stopped before it (`resume` after `--stop-before
    /// ArtifactInstall_Enter`), given the payload files as they were verified.
    fn activate_staged(&self, verified: &[StagedFile]) -> Result<RebootNeed, InstallError>;

    /// `ArtifactCommit`.
    fn commit(&self) -> Result<(), InstallError>;

    /// `ArtifactRollback`.
    fn rollback(&self) -> Result<(), InstallError>;

    /// `ArtifactFailure`.
    fn failure(&self) -> Result<(), InstallError>;

    /// `Cleanup`.
    fn cleanup(&self) -> Result<(), InstallError>;

    /// Removes the files the install kept (after a failure: nothing of it stays on disk).
    fn discard(&self);

    /// Undoes an `ArtifactInstall` or `ArtifactCommit` that failed, before `ArtifactFailure`.
    /// An error means the undo itself failed: the pending record then stays, so the next start
    /// judges the device instead of leaving an unrecorded change behind.
    fn undo(&self, scripts: &StateScripts) -> Result<(), InstallError>;

    /// Whether a failed commit leaves the install pending for the next start to judge (an A/B
    /// update still running the new slot) rather than failing it at once.
    fn judged_at_next_start(&self) -> bool;

    /// How the install stands after a restart (`rebooted`: whether the kernel's boot ID
    /// changed since the install, when known).
    fn judge(&self, rebooted: Option<bool>) -> Result<Judgement, InstallError>;

    /// After a rollback across a reboot: the kind's own check that the old system is back
    /// (`ArtifactVerifyRollbackReboot`). Failures are only logged.
    fn verify_rollback_reboot(&self);
}

/// What a pending record keeps about an install, beyond the artifact's claims.
#[derive(Debug, Clone)]
pub struct Record {
    /// The payload type.
    pub payload_type: String,
    /// The Update Module's file tree (empty for kinds without one).
    pub tree: PathBuf,
    /// The reboot need known before `ArtifactInstall` runs.
    pub reboot: RebootNeed,
    /// For an A/B install: the partition it leaves and the one it wrote.
    pub rootfs: Option<Slots>,
}

/// Routes the payload by its verified type to the installer of its kind. The device's
/// `Download_Enter` scripts run before the first payload byte moves (spec §8.2).
pub(super) struct Router<'c> {
    ctx: &'c InstallContext,
    setup: ModuleSetup,
    download: DownloadScripts,
    installer: Option<Box<dyn Installer>>,
}

impl<'c> Router<'c> {
    /// A router for one artifact.
    pub(super) fn new(ctx: &'c InstallContext, setup: ModuleSetup) -> Self {
        Self {
            ctx,
            setup,
            download: DownloadScripts {
                scripts: ctx.scripts(),
                running: false,
            },
            installer: None,
        }
    }

    /// After a failed read: stop the installer, run `Download_Error`, remove what it left.
    pub(super) fn abort(mut self) {
        if let Some(installer) = &mut self.installer {
            installer.stop();
        }
        self.download.fail();
        if let Some(installer) = &mut self.installer {
            installer.abort();
        }
    }

    /// After a verified read: the installer and the download's scripts, which still have to
    /// see its end.
    pub(super) fn finish(self) -> Result<(Box<dyn Installer>, DownloadScripts), InstallError> {
        match self.installer {
            Some(installer) => Ok((installer, self.download)),
            // A verified read always began a payload; refused regardless.
            None => Err(DownloadError::NoPayloadType.into()),
        }
    }
}

impl PayloadSink for Router<'_> {
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        if let PayloadType::Named(_) = header.payload_type() {
            self.download.running = true;
            self.download.scripts.run("Download", Action::Enter)?;
        }
        let installer = self.installer.insert(kind::installer_for(
            header.payload_type(),
            self.ctx,
            &self.setup,
        )?);
        installer.begin(header, manifest)
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        match &mut self.installer {
            Some(installer) => installer.file(file, data),
            None => Err(Box::new(DownloadError::NoPayloadType)),
        }
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        match &mut self.installer {
            Some(installer) => installer.file_verified(file),
            None => Ok(()),
        }
    }
}

/// The `Download` state's scripts: once `Download_Enter` ran, `Download_Leave` or
/// `Download_Error` must follow.
pub(super) struct DownloadScripts {
    scripts: StateScripts,
    running: bool,
}

impl DownloadScripts {
    /// Ends a complete download with the `Download_Leave` scripts; if one fails, the Error
    /// scripts run and the install stops.
    pub(super) fn leave(&mut self) -> Result<(), InstallError> {
        if !std::mem::take(&mut self.running) {
            return Ok(());
        }
        let left = self.scripts.run("Download", Action::Leave);
        if left.is_err() {
            let _ = self.scripts.run("Download", Action::Error);
        }
        Ok(left?)
    }

    /// Ends a failed download with the `Download_Error` scripts (their failures only logged).
    pub(super) fn fail(&mut self) {
        if std::mem::take(&mut self.running) {
            let _ = self.scripts.run("Download", Action::Error);
        }
    }
}
