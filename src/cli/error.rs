//! The command-level error and its exit code.
//!
//! Exit codes (issue #2): 0 valid, 1 artifact rejected, 2 usage or configuration error,
//! 3 I/O failure.

use thiserror::Error;

use crate::artifact::ReadError;
use crate::config::mender_conf::ConfigError;

/// Everything a command can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad configuration or usage (exit 2).
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// Reading or verifying the artifact failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `install`, `commit` or `rollback` failed.
    #[error(transparent)]
    Install(#[from] crate::install::context::InstallError),
    /// The artifact source could not be opened (exit 3).
    #[error(transparent)]
    Source(#[from] crate::stream::source::SourceError),
    /// Writing the report failed (exit 3).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// The daemon refused or failed an install handed to it (exit 1, as any install failure).
    #[error(transparent)]
    Client(#[from] crate::daemon::client::ClientError),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Read(ReadError::Rejected(_)) | Self::Install(_) | Self::Client(_) => 1,
            Self::Read(ReadError::Io(_) | ReadError::Sink(_))
            | Self::Source(_)
            | Self::Output(_) => 3,
        }
    }
}
