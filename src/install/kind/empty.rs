//! An empty payload (spec §5.6): no files and no module; a verified artifact of this kind
//! changes only the device's provides, at once.

use std::io::Read;

use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
use crate::install::context::InstallError;
use crate::install::download::DownloadError;
use crate::install::installer::{Installed, Installer, Record};
use crate::install::module::RebootNeed;
use crate::signature::VerifiedManifest;

/// The installer of an empty payload: there is nothing to stream or to activate.
#[derive(Debug)]
pub struct EmptyInstaller;

impl PayloadSink for EmptyInstaller {
    fn begin(&mut self, _: &CheckedHeader, _: &VerifiedManifest) -> Result<(), SinkError> {
        Ok(())
    }

    fn file(&mut self, _: &PayloadFileInfo, _: &mut dyn Read) -> Result<(), SinkError> {
        // Unreachable for a verified empty payload (it lists no files), refused regardless.
        Err(Box::new(DownloadError::NoPayloadType))
    }

    fn file_verified(&mut self, _: &VerifiedFile) -> Result<(), SinkError> {
        Ok(())
    }
}

impl Installer for EmptyInstaller {
    fn end_download(&mut self, _: &VerifiedArtifact) -> Result<(), InstallError> {
        Ok(())
    }

    fn stop(&mut self) {}

    fn abort(&mut self) {}

    fn record(&self) -> Result<Record, InstallError> {
        Err(DownloadError::NoPayloadType.into())
    }

    fn activate(&mut self, _: &VerifiedArtifact) -> Result<RebootNeed, InstallError> {
        Ok(RebootNeed::No)
    }

    fn installed(&self) -> Option<&dyn Installed> {
        None
    }
}
