//! The artifact's signed head — `version`, `manifest`, `manifest.sig` and the header — read and
//! checked exactly as an install checks it (signature, hashes, device type, depends), stopping
//! before the first payload byte. The channel uses it to decide whether an artifact is worth
//! downloading; nothing here touches the network or the disk.

use std::io::Read;

use crate::artifact::{
    self, CheckedHeader, PayloadFileInfo, PayloadSink, ReadError, ReadOptions, Rejection, SinkError,
};
use crate::signature::VerifiedManifest;

/// What the head says, once it verified and fits this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `artifact_name`.
    pub artifact_name: String,
    /// The payload type (`rootfs-image`, a module's name, or empty).
    pub payload_type: String,
}

/// The head did not pass.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// It does not fit this device (device type, depends): skipped, not an attack.
    #[error("{0}")]
    NotForThisDevice(Rejection),
    /// It is refused (signature, hashes, structure).
    #[error("{0}")]
    Rejected(Rejection),
    /// It could not be read (the connection, a limit on the reader).
    #[error("{0}")]
    Unreadable(ReadError),
}

/// Reads `input` up to the end of the verified header.
pub fn read_head(input: impl Read, options: &ReadOptions) -> Result<Head, HeadError> {
    let mut sink = StopAtPayload(None);
    let result = artifact::read_artifact(input, options, &mut sink);
    match (result, sink.0) {
        (Err(ReadError::Sink(_)), Some(head)) => Ok(head),
        // An artifact without payload files ends before any: its head is all of it.
        (Ok(verified), _) => Ok(Head {
            artifact_name: verified.header().artifact_name().to_owned(),
            payload_type: verified
                .header()
                .payload_type()
                .name()
                .unwrap_or_default()
                .to_owned(),
        }),
        (Err(ReadError::Rejected(r @ Rejection::Policy(_))), _) => {
            Err(HeadError::NotForThisDevice(r))
        }
        (Err(ReadError::Rejected(r)), _) => Err(HeadError::Rejected(r)),
        (Err(e), _) => Err(HeadError::Unreadable(e)),
    }
}

/// Keeps the verified header and stops the read before the payload.
struct StopAtPayload(Option<Head>);

/// The marker error that ends the read at the payload.
#[derive(Debug, thiserror::Error)]
#[error("the head was read; the payload is not needed")]
struct HeadComplete;

impl PayloadSink for StopAtPayload {
    fn begin(&mut self, header: &CheckedHeader, _: &VerifiedManifest) -> Result<(), SinkError> {
        self.0 = Some(Head {
            artifact_name: header.artifact_name().to_owned(),
            payload_type: header.payload_type().name().unwrap_or_default().to_owned(),
        });
        Err(Box::new(HeadComplete))
    }

    fn file(&mut self, _: &PayloadFileInfo, _: &mut dyn Read) -> Result<(), SinkError> {
        Err(Box::new(HeadComplete))
    }
}
