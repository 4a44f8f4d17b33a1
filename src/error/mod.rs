//! How failures are classified and told, in one place.
//!
//! Every failure that leaves the crate — an exit code, an HTTP answer, a `--json` document, a
//! daemon event — is a [`Failure`]: a [`Class`] saying what a caller can do about it, a stable
//! machine-readable `code` (the contract in `docs/api.md`) and the human message. Error types
//! say their class and code through [`Classify`] ([`classify`] has the table); exit codes and
//! HTTP statuses are derived here and nowhere else. Untrusted strings are quoted and escaped in
//! every message ([`escape`]).

pub mod classify;
pub mod escape;

use serde::{Deserialize, Serialize};

/// What a caller can do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The artifact is bad: never retry the same bytes.
    Rejected,
    /// The device or its environment failed (disk, module, script, state, network server): it
    /// may succeed later.
    Failed,
    /// The operation was cut off (a signal, a stalled or lost connection, the service
    /// stopping): retrying may finish it.
    Interrupted,
    /// The configuration or the request is wrong: fix it before retrying.
    Config,
}

impl Class {
    /// The name used in JSON and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
            Self::Config => "config",
        }
    }

    /// The exit code of a command that reports classes (`validate`, `read`, `status`, …):
    /// 1 rejected, 2 configuration, 3 failed or interrupted (both "the artifact may be fine").
    /// `install`, `commit` and `rollback` keep Mender's codes instead
    /// ([`exit::MENDER_FAILURE`]).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Rejected => exit::REJECTED,
            Self::Config => exit::CONFIG,
            Self::Failed | Self::Interrupted => exit::FAILED,
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every exit code the command line uses.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The artifact was rejected.
    pub const REJECTED: u8 = 1;
    /// A usage or configuration error; also "nothing to commit / roll back", as Mender says.
    pub const CONFIG: u8 = 2;
    /// The device or the environment failed, or the operation was interrupted.
    pub const FAILED: u8 = 3;
    /// `install --reboot-exit-code`: installed, and a reboot is required.
    pub const REBOOT_REQUIRED: u8 = 4;
    /// `install`, `commit` and `rollback`: every failure, as `mender install` exits.
    pub const MENDER_FAILURE: u8 = 1;
}

/// A failure as it crosses a boundary: the wire form of every error in the API and in
/// `--json` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    /// What a caller can do about it.
    pub class: Class,
    /// A stable machine-readable code (`docs/api.md` lists them).
    pub code: String,
    /// The human message.
    pub message: String,
}

impl Failure {
    /// A failure with its class, code and message.
    pub fn new(class: Class, code: &str, message: impl Into<String>) -> Self {
        Self {
            class,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status the daemon answers with: the code decides where HTTP has a word for
    /// it, else the class.
    pub fn http_status(&self) -> u16 {
        match self.code.as_str() {
            "no_such_endpoint" => 404,
            "method_not_allowed" => 405,
            "forbidden" => 403,
            "busy" | "nothing_pending" | "update_in_progress" => 409,
            "artifact_too_large" if self.class == Class::Rejected => 413,
            _ => match self.class {
                Class::Rejected => 422,
                Class::Config if self.code.starts_with("bad_request") => 400,
                Class::Config | Class::Failed => 500,
                Class::Interrupted => 503,
            },
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error that knows its class and its stable code.
pub trait Classify: std::fmt::Display {
    /// What a caller can do about it.
    fn class(&self) -> Class;

    /// The stable code.
    fn code(&self) -> &'static str;

    /// Its wire form.
    fn failure(&self) -> Failure {
        Failure::new(self.class(), self.code(), self.to_string())
    }
}

/// Marks an I/O error as an interruption (the service stopping, a stalled upload) so that it
/// is classified [`Class::Interrupted`]; wrapped in an `io::Error` of kind `Other`, because
/// readers retry `ErrorKind::Interrupted`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interruption(pub String);

impl Interruption {
    /// The `io::Error` carrying it.
    pub fn io(why: impl Into<String>) -> std::io::Error {
        std::io::Error::other(Self(why.into()))
    }
}
