//! The command-level error. Its class and code come from [`crate::error`]; so does its exit
//! code.

use thiserror::Error;

use crate::artifact::ReadError;
use crate::config::mender_conf::ConfigError;
use crate::config::resolve;
use crate::error::{Class, Classify, Failure};

/// Everything a command can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad configuration or usage.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// Reading or verifying the artifact failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `install`, `commit` or `rollback` failed.
    #[error(transparent)]
    Install(#[from] crate::install::context::InstallError),
    /// The artifact source could not be opened.
    #[error(transparent)]
    Source(#[from] crate::stream::source::SourceError),
    /// Writing the report failed.
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// The daemon refused or failed an install handed to it.
    #[error(transparent)]
    Client(#[from] crate::daemon::api_client::ClientError),
    /// An option only root may use.
    #[error("{0} may only be used by root")]
    NotRoot(&'static str),
    /// `check-config`: the Mender server agent's settings cannot be used.
    #[error("Mender server agent: {0}")]
    Server(#[from] crate::server::ServerError),
}

impl From<resolve::Error> for Error {
    fn from(e: resolve::Error) -> Self {
        match e {
            resolve::Error::Config(e) => Self::Config(e),
            resolve::Error::Source(e) => Self::Source(e),
        }
    }
}

impl Error {
    /// The error's wire form; for an install that failed in the daemon, the daemon's own.
    pub fn failure(&self) -> Failure {
        match self {
            Self::Config(e) => with_message(e.failure(), self),
            Self::Read(e) => e.failure(),
            Self::Install(e) => e.failure(),
            Self::Source(e) => e.failure(),
            Self::Output(e) => with_message(
                Failure::new(crate::error::classify::io_class(e).0, "output_failed", ""),
                self,
            ),
            Self::Client(e) => e.failure(),
            Self::Server(e) => with_message(e.failure(), self),
            Self::NotRoot(_) => Failure::new(Class::Config, "not_root", self.to_string()),
        }
    }

    /// The error's class.
    pub fn class(&self) -> Class {
        self.failure().class
    }
}

/// `failure` with this error's full message (which may add a prefix to the inner one).
fn with_message(mut failure: Failure, e: &Error) -> Failure {
    failure.message = e.to_string();
    failure
}
