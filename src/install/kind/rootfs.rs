//! A `rootfs-image` payload, installed by the built-in A/B installer (spec §9): written to the
//! inactive partition, activated by pointing the boot variables at it, committed after a
//! verified boot or rolled back by pointing them back.

use std::io::Read;
use std::path::PathBuf;

use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
use crate::install::bootenv::BootEnv;
use crate::install::context::InstallError;
use crate::install::installer::{Installed, Installer, Record};
use crate::install::kind::ROOTFS_IMAGE;
use crate::install::module::RebootNeed;
use crate::install::resume::{BootFacts, Judgement, judge_rootfs};
use crate::install::rootfs::{self, RootfsError, RootfsLayout, RootfsSink, Slots};
use crate::install::scripts::StateScripts;
use crate::signature::VerifiedManifest;
use crate::state::store::StagedFile;

/// Streams the image onto the inactive partition.
#[derive(Debug)]
pub struct RootfsInstaller {
    sink: RootfsSink,
    layout: RootfsLayout,
    env: BootEnv,
    /// Set once the download ended.
    downloaded: Option<RootfsInstall>,
}

impl RootfsInstaller {
    /// An installer for `layout`, switching boots through `env`.
    pub fn new(layout: RootfsLayout, env: BootEnv) -> Self {
        Self {
            sink: RootfsSink::new(layout.clone(), env.clone()),
            layout,
            env,
            downloaded: None,
        }
    }

    fn slots(&self) -> Result<Slots, InstallError> {
        self.sink
            .slots()
            .cloned()
            .ok_or(InstallError::NoRootfsLayout)
    }
}

impl PayloadSink for RootfsInstaller {
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        self.sink.begin(header, manifest)
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        self.sink.file(file, data)
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        self.sink.file_verified(file)
    }
}

impl Installer for RootfsInstaller {
    fn end_download(&mut self, _: &VerifiedArtifact) -> Result<(), InstallError> {
        // The proof is checked where it matters, at the boot switch (`activate`).
        self.downloaded = Some(RootfsInstall {
            layout: Some(self.layout.clone()),
            env: self.env.clone(),
            slots: self.slots()?,
        });
        Ok(())
    }

    fn stop(&mut self) {}

    fn abort(&mut self) {
        // The inactive partition is the only thing written, and nothing boots it yet.
    }

    fn record(&self) -> Result<Record, InstallError> {
        Ok(Record {
            payload_type: ROOTFS_IMAGE.to_owned(),
            tree: PathBuf::new(),
            reboot: RebootNeed::Automatic,
            rootfs: Some(self.slots()?),
        })
    }

    fn activate(&mut self, proof: &VerifiedArtifact) -> Result<RebootNeed, InstallError> {
        self.sink.activate(proof)?;
        Ok(RebootNeed::Automatic)
    }

    fn installed(&self) -> Option<&dyn Installed> {
        self.downloaded.as_ref().map(|i| i as &dyn Installed)
    }
}

/// An A/B install: the partitions it switched between.
#[derive(Debug)]
pub struct RootfsInstall {
    /// `RootfsPartA`/`RootfsPartB` (`None` when mender.conf no longer names them: a rollback
    /// still works, a commit or a boot check does not).
    pub layout: Option<RootfsLayout>,
    /// The boot environment.
    pub env: BootEnv,
    /// The partition it left and the one it wrote.
    pub slots: Slots,
}

impl RootfsInstall {
    fn layout(&self) -> Result<&RootfsLayout, InstallError> {
        self.layout.as_ref().ok_or(InstallError::NoRootfsLayout)
    }
}

impl Installed for RootfsInstall {
    fn supports_rollback(&self) -> Result<bool, InstallError> {
        Ok(true)
    }

    fn activate_staged(&self, verified: &[StagedFile]) -> Result<RebootNeed, InstallError> {
        // The slot was written and read back before the stop; it is read back again, so the
        // boot switch points only at the image that was verified.
        let [image] = verified else {
            return Err(RootfsError::SecondFile.into());
        };
        rootfs::verify_slot(&self.slots.inactive.path, image.size, &image.sha256)?;
        rootfs::switch_to(&self.env, &self.slots)?;
        Ok(RebootNeed::Automatic)
    }

    fn commit(&self) -> Result<(), InstallError> {
        Ok(rootfs::commit(self.layout()?, &self.env, &self.slots)?)
    }

    fn rollback(&self) -> Result<(), InstallError> {
        Ok(rootfs::rollback(&self.env, &self.slots)?)
    }

    fn failure(&self) -> Result<(), InstallError> {
        Ok(())
    }

    fn cleanup(&self) -> Result<(), InstallError> {
        Ok(())
    }

    fn discard(&self) {}

    fn undo(&self, _: &StateScripts) -> Result<(), InstallError> {
        // A boot-environment tool that failed may still have written the switch (killed after
        // its write, before its fsync or exit): point the bootloader back before calling the
        // install failed.
        self.rollback()
    }

    fn judged_at_next_start(&self) -> bool {
        true
    }

    fn judge(&self, rebooted: Option<bool>) -> Result<Judgement, InstallError> {
        let layout = self.layout()?;
        let vars = self
            .env
            .read(&["mender_boot_part", "upgrade_available"])
            .map_err(RootfsError::from)?;
        let facts = BootFacts {
            running_by_root: layout.running_by_root(),
            boot_part: vars
                .get("mender_boot_part")
                .and_then(|v| v.trim().parse().ok()),
            upgrade_available: vars.get("upgrade_available").map(String::as_str),
            rebooted,
        };
        Ok(judge_rootfs(&self.slots, &facts))
    }

    fn verify_rollback_reboot(&self) {}
}
