//! Mender 5's `--stop-before STATE` and `resume` (issue #16 item 7): an install, commit or
//! rollback can stop before one of six states and be carried on later by `resume`, so scripts
//! written for `mender-update` work unchanged. Where an operation stopped is kept in the pending
//! record ([`Stage`]), so a stop survives a reboot, and a second run with the same stop is a
//! no-op that stops at the same point, as in Mender.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A state an operation may stop before: the names `mender-update` 5 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopState {
    /// Before `ArtifactInstall`: the payload is downloaded and verified, nothing changed.
    ArtifactInstallEnter,
    /// Before `ArtifactCommit`, even for a module without rollback support.
    ArtifactCommitEnter,
    /// After `ArtifactCommit` and the new provides, before the `ArtifactCommit_Leave` scripts.
    ArtifactCommitLeave,
    /// Before `ArtifactRollback` on the way back from a failure or a `rollback`.
    ArtifactRollbackEnter,
    /// Before `ArtifactFailure`.
    ArtifactFailureEnter,
    /// Before `Cleanup`.
    Cleanup,
}

impl StopState {
    /// Every state, in Mender's order.
    pub const ALL: [Self; 6] = [
        Self::ArtifactInstallEnter,
        Self::ArtifactCommitEnter,
        Self::ArtifactCommitLeave,
        Self::ArtifactRollbackEnter,
        Self::ArtifactFailureEnter,
        Self::Cleanup,
    ];

    /// Mender's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ArtifactInstallEnter => "ArtifactInstall_Enter",
            Self::ArtifactCommitEnter => "ArtifactCommit_Enter",
            Self::ArtifactCommitLeave => "ArtifactCommit_Leave",
            Self::ArtifactRollbackEnter => "ArtifactRollback_Enter",
            Self::ArtifactFailureEnter => "ArtifactFailure_Enter",
            Self::Cleanup => "Cleanup",
        }
    }

    /// Parses Mender's name (a `--stop-before` value).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "'{text}' is not a state to stop before; choose one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for StopState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The states one command stops before (`--stop-before`, repeatable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopBefore(BTreeSet<StopState>);

impl StopBefore {
    /// The given states.
    pub fn new(states: impl IntoIterator<Item = StopState>) -> Self {
        Self(states.into_iter().collect())
    }

    /// Whether the command stops before `state`.
    pub fn at(&self, state: StopState) -> bool {
        self.0.contains(&state)
    }
}

/// Where a pending operation stands: the next step `resume` takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Downloaded and verified, stopped before `ArtifactInstall`.
    Downloaded,
    /// `ArtifactInstall` ran: waits for commit or rollback (every record before issue #16).
    #[default]
    Installed,
    /// `ArtifactCommit` ran and the provides are recorded; `ArtifactCommit_Leave` is next.
    CommitLeave,
    /// On the way back: `ArtifactRollback` is next.
    Rollback,
    /// On the way back: `ArtifactFailure` is next.
    Failure,
    /// Only `Cleanup` is left (`failed`: the operation failed or was rolled back).
    Cleanup {
        /// Whether it ends a failure.
        failed: bool,
    },
}

impl Stage {
    /// Whether this is the plain pending install of before issue #16 (written without a stage).
    pub fn is_installed(&self) -> bool {
        *self == Self::Installed
    }

    /// The state the operation stopped before, for messages.
    pub fn next_state(self) -> &'static str {
        match self {
            Self::Downloaded => "ArtifactInstall_Enter",
            Self::Installed => "ArtifactCommit_Enter",
            Self::CommitLeave => "ArtifactCommit_Leave",
            Self::Rollback => "ArtifactRollback_Enter",
            Self::Failure => "ArtifactFailure_Enter",
            Self::Cleanup { .. } => "Cleanup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_menders() {
        for state in StopState::ALL {
            assert_eq!(StopState::parse(state.name()), Ok(state));
        }
        let e = StopState::parse("ArtifactInstall").unwrap_err();
        assert!(
            e.contains("ArtifactInstall_Enter, ArtifactCommit_Enter"),
            "{e}"
        );
        let stops = StopBefore::new([StopState::Cleanup, StopState::Cleanup]);
        assert!(stops.at(StopState::Cleanup) && !stops.at(StopState::ArtifactCommitEnter));
    }

    #[test]
    fn a_record_without_a_stage_is_an_installed_one() {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            stage: Stage,
        }
        let r: R = serde_json::from_str("{}").unwrap();
        assert_eq!(r.stage, Stage::Installed);
        let r: R = serde_json::from_str(r#"{"stage":{"cleanup":{"failed":true}}}"#).unwrap();
        assert_eq!(r.stage, Stage::Cleanup { failed: true });
    }
}
