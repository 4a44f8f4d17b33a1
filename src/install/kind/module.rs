//! An Update Module payload (spec §8): streamed into the module's `Download`, then
//! `ArtifactInstall`, `ArtifactCommit` or `ArtifactRollback`, `ArtifactFailure` and `Cleanup`
//! as the module's v3 protocol calls them.

use std::io::Read;

use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
use crate::install::context::InstallError;
use crate::install::download::{DownloadError, ModuleSetup, ModuleSink};
use crate::install::installer::{Installed, Installer, Record};
use crate::install::module::{ModuleState, ModuleTree, RebootNeed, UpdateModule};
use crate::install::resume::Judgement;
use crate::install::scripts::StateScripts;
use crate::install::spool::Spool;
use crate::signature::VerifiedManifest;
use crate::state::store::StagedFile;

/// Streams the payload into its Update Module.
#[derive(Debug)]
pub struct ModuleInstaller {
    setup: ModuleSetup,
    sink: Option<ModuleSink>,
    /// In spool mode: the verified spool the files pass through first.
    spool: Option<Spool>,
    payload_type: String,
    /// Set once the download ended with the proof of its read.
    downloaded: Option<ModuleInstall>,
}

impl ModuleInstaller {
    /// An installer whose module and tree `setup` describes.
    pub fn new(setup: ModuleSetup) -> Self {
        Self {
            sink: Some(ModuleSink::new(setup.clone())),
            spool: None,
            setup,
            payload_type: String::new(),
            downloaded: None,
        }
    }

    fn sink(&mut self) -> Result<&mut ModuleSink, SinkError> {
        self.sink
            .as_mut()
            .ok_or_else(|| Box::new(DownloadError::NoPayloadType) as SinkError)
    }
}

impl PayloadSink for ModuleInstaller {
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        self.payload_type = header.payload_type().name().unwrap_or_default().to_owned();
        if let Some(settings) = &self.setup.spool {
            self.spool = Some(Spool::open(settings.clone())?);
        }
        self.sink()?.begin(header, manifest)
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        match &mut self.spool {
            Some(spool) => spool.take(file, data),
            None => self.sink()?.file(file, data),
        }
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        let sink = self
            .sink
            .as_mut()
            .ok_or_else(|| Box::new(DownloadError::NoPayloadType) as SinkError)?;
        if let Some(spool) = &mut self.spool {
            // Verified: only now does the module see the file, re-hashed from the spool.
            spool.release(file, &mut |info, data| sink.file(info, data))?;
        }
        sink.file_verified(file)
    }
}

impl Installer for ModuleInstaller {
    fn end_download(&mut self, proof: &VerifiedArtifact) -> Result<(), InstallError> {
        let sink = self.sink.take().ok_or(DownloadError::NoPayloadType)?;
        self.spool = None;
        let (module, tree, _) = sink.finish(proof)?;
        self.downloaded = Some(ModuleInstall {
            module,
            tree,
            reboot: RebootNeed::No,
        });
        Ok(())
    }

    fn stop(&mut self) {
        // Dropping an unfinished download kills the module before its stream ends.
        self.sink = None;
        self.spool = None;
    }

    fn abort(&mut self) {
        self.sink = None;
        self.spool = None;
        let tree = ModuleTree::existing(&self.setup.tree_root);
        if self.setup.tree_root.is_dir()
            && let Ok(module) =
                UpdateModule::locate(&self.setup.data_dir, &self.payload_type, self.setup.timeout)
        {
            let _ = module.call(ModuleState::Cleanup, &tree);
        }
        tree.discard();
    }

    fn record(&self) -> Result<Record, InstallError> {
        Ok(Record {
            payload_type: self.payload_type.clone(),
            tree: self.setup.tree_root.clone(),
            reboot: RebootNeed::No,
            rootfs: None,
        })
    }

    fn activate(&mut self, _: &VerifiedArtifact) -> Result<RebootNeed, InstallError> {
        // The proof was checked when the download ended: the module got its end only with it.
        let install = self
            .downloaded
            .as_ref()
            .ok_or(DownloadError::DidNotFinish)?;
        install
            .module
            .call(ModuleState::ArtifactInstall, &install.tree)?;
        Ok(install.module.needs_reboot(&install.tree)?)
    }

    fn installed(&self) -> Option<&dyn Installed> {
        self.downloaded.as_ref().map(|i| i as &dyn Installed)
    }
}

/// A module install after its download: the module and its file tree.
#[derive(Debug)]
pub struct ModuleInstall {
    /// The payload type's Update Module.
    pub module: UpdateModule,
    /// Its file tree.
    pub tree: ModuleTree,
    /// What `NeedsArtifactReboot` answered (recorded with the pending install).
    pub reboot: RebootNeed,
}

impl ModuleInstall {
    fn call(&self, state: ModuleState) -> Result<(), InstallError> {
        self.module.call(state, &self.tree)?;
        Ok(())
    }
}

impl Installed for ModuleInstall {
    fn supports_rollback(&self) -> Result<bool, InstallError> {
        Ok(self.module.supports_rollback(&self.tree)?)
    }

    fn activate_staged(&self, _: &[StagedFile]) -> Result<RebootNeed, InstallError> {
        // The module took the verified files in its Download; its tree kept them since.
        self.call(ModuleState::ArtifactInstall)?;
        Ok(self.module.needs_reboot(&self.tree)?)
    }

    fn commit(&self) -> Result<(), InstallError> {
        self.call(ModuleState::ArtifactCommit)
    }

    fn rollback(&self) -> Result<(), InstallError> {
        self.call(ModuleState::ArtifactRollback)
    }

    fn failure(&self) -> Result<(), InstallError> {
        self.call(ModuleState::ArtifactFailure)
    }

    fn cleanup(&self) -> Result<(), InstallError> {
        self.call(ModuleState::Cleanup)
    }

    fn discard(&self) {
        self.tree.discard();
    }

    fn undo(&self, scripts: &StateScripts) -> Result<(), InstallError> {
        // Spec §8.2: roll back if the module can; its failure is secondary to the one reported.
        if self.supports_rollback().unwrap_or(false) {
            let _ = scripts.around("ArtifactRollback", || self.rollback());
        }
        Ok(())
    }

    fn judged_at_next_start(&self) -> bool {
        false
    }

    fn judge(&self, rebooted: Option<bool>) -> Result<Judgement, InstallError> {
        if self.reboot == RebootNeed::No {
            // Nothing to reboot into: the install is as verified as it will ever be.
            return Ok(Judgement::Verified);
        }
        if rebooted != Some(true) {
            return Ok(Judgement::WaitForReboot);
        }
        Ok(match self.call(ModuleState::ArtifactVerifyReboot) {
            Ok(()) => Judgement::Verified,
            Err(e) => {
                tracing::warn!("ArtifactVerifyReboot failed: {e}");
                Judgement::Reverted
            }
        })
    }

    fn verify_rollback_reboot(&self) {
        if let Err(e) = self.call(ModuleState::ArtifactVerifyRollbackReboot) {
            tracing::warn!("ArtifactVerifyRollbackReboot failed: {e}");
        }
    }
}
