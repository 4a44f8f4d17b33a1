//! The local API's messages (`docs/api.md`), as types shared by the daemon, which writes them,
//! and its client, which reads them. Every failure is a [`Failure`]: `{"class", "code",
//! "message"}`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::install::context::InstalledReport;
use crate::install::module::RebootNeed;

/// `POST /v1/install` with `Content-Type: application/json`: exactly one of the two.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// An absolute path on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// An `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Install only the artifact whose raw manifest has this SHA-256 (64 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_manifest_sha256: Option<String>,
}

/// One line of an install's event stream (`application/x-ndjson`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A phase began (`Download`, `ArtifactInstall`, `ArtifactCommit`, `ArtifactRollback`).
    Phase {
        /// Its name.
        phase: String,
    },
    /// Bytes of the artifact read so far.
    Progress {
        /// Bytes read.
        bytes: u64,
        /// The artifact's size, when known.
        total: Option<u64>,
    },
    /// The install ended well (the last event).
    Result(InstallResult),
    /// The install failed (the last event).
    Error(Failure),
}

/// How an install ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallResult {
    /// Whether it waits for a commit.
    pub status: InstallStatus,
    /// What the update asked for.
    pub reboot: RebootNeed,
    /// Whether a reboot is needed (`reboot` is not `no`).
    pub reboot_required: bool,
    /// Whether the daemon is rebooting the device itself (`reboot_after_install`).
    pub rebooting: bool,
}

/// Whether an install waits for its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallStatus {
    /// Installed, waiting for a reboot or a commit.
    Installed,
    /// Installed and committed.
    Committed,
}

impl InstallStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Committed => "committed",
        }
    }
}

/// The answer to `POST /v1/commit` and `POST /v1/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeResult {
    /// `committed` or `rolled back`.
    pub result: String,
    /// The artifact committed or rolled back.
    pub artifact_name: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonStatus {
    /// What is installed and what is pending (the same as `status --json`).
    #[serde(flatten)]
    pub installed: InstalledReport,
    /// What runs now.
    pub operation: Option<Operation>,
    /// What the start-up boot check did.
    pub last_boot_check: Option<BootCheck>,
    /// The update channel's state, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelStatus>,
    /// The Mender server agent's state, when mender.conf names a server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStatus>,
}

/// The Mender server agent in `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The server.
    pub url: String,
    /// Whether the device holds a token (the server accepted it).
    pub authenticated: bool,
    /// The last thing the agent did, in words (`no deployment`, `deployment … succeeded`, a
    /// failure with its class and code, …).
    pub last_result: Option<String>,
    /// When (RFC 3339, UTC).
    pub last_time: Option<String>,
    /// The deployment in flight.
    pub deployment: Option<String>,
    /// When the next check for a deployment is due.
    pub next_check: Option<String>,
}

/// The update channel in `GET /v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    /// The URL polled (templates filled in; empty before the first poll).
    pub url: String,
    /// When the last poll ended (RFC 3339, UTC).
    pub last_check: Option<String>,
    /// What it found.
    pub last_result: Option<crate::channel::PollResult>,
    /// When the next poll starts.
    pub next_check: Option<String>,
}

/// The running operation.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// `install`, `commit` or `rollback`.
    pub name: &'static str,
    /// Its current phase.
    pub phase: Option<&'static str>,
    /// Seconds since it began.
    pub seconds: u64,
}

/// What the daemon did with a pending install when it started. Fields in this order, so the
/// log line reads name first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootCheck {
    /// The pending install's artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_name: Option<String>,
    /// Why the commit (or the check itself) failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// After a failed commit: whether a reboot is needed to get back to the old system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reboot_required: Option<bool>,
    /// After a failed commit: whether the daemon does that reboot itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebooting: Option<bool>,
    /// `nothing pending`, `waiting for reboot`, `verified, waiting for commit`, `committed`,
    /// `rolled back`, `commit failed, rolled back`, `stopped, waiting for resume` or `error`.
    pub result: &'static str,
}

impl BootCheck {
    /// A result about `artifact_name`.
    pub fn of(result: &'static str, artifact_name: Option<String>) -> Self {
        Self {
            artifact_name,
            error: None,
            reboot_required: None,
            rebooting: None,
            result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Class;

    #[test]
    fn events_read_back_as_written() {
        let events = [
            Event::Phase {
                phase: "Download".into(),
            },
            Event::Progress {
                bytes: 5,
                total: None,
            },
            Event::Result(InstallResult {
                status: InstallStatus::Installed,
                reboot: RebootNeed::Automatic,
                reboot_required: true,
                rebooting: false,
            }),
            Event::Error(Failure::new(Class::Rejected, "checksum_mismatch", "bad")),
        ];
        for event in events {
            let line = serde_json::to_string(&event).unwrap();
            assert_eq!(
                serde_json::from_str::<Event>(&line).unwrap(),
                event,
                "{line}"
            );
        }
        let error = Event::Error(Failure::new(Class::Failed, "no_space", "disk full"));
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"event":"error","class":"failed","code":"no_space","message":"disk full"}"#
        );
    }
}
