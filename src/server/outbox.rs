//! The deployment in flight, on disk (`<datastore>/artifact-gate/deployment.json`, written
//! crash-safely), so that what the server must hear survives a crash or the reboot into an A/B
//! update: written before the download starts, removed once the final status is delivered.
//!
//! After a restart, the device's own state says how it ended: an install still pending waits
//! (for its reboot or its commit); otherwise the deployment succeeded exactly when the
//! installed artifact is the deployment's (the boot check committed it), and failed when it is
//! not (rolled back, or the device stopped before the install finished).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ServerError;
use super::deployments::{LogLine, Status};
use crate::state::persist::{read_optional, write_atomic};
use crate::state::provides::Provides;
use crate::state::store::PendingInstall;

/// What is kept about the deployment in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlight {
    /// The deployment id.
    pub id: String,
    /// Its artifact.
    pub artifact_name: String,
    /// The log so far (uploaded when it fails).
    #[serde(default)]
    pub log: Vec<LogLine>,
    /// It failed, and `log` is complete: only the delivery of the failure is left.
    #[serde(default)]
    pub failed: bool,
}

/// How a deployment found in flight after a restart has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still pending: nothing to report yet.
    Waiting,
    /// Final: report this (and, for a failure, why).
    Final(Status, Option<String>),
}

impl InFlight {
    /// How it has ended, given the device's state now.
    pub fn outcome(&self, pending: Option<&PendingInstall>, provides: &Provides) -> Outcome {
        if self.failed {
            return Outcome::Final(Status::Failure, None);
        }
        if pending.is_some() {
            return Outcome::Waiting;
        }
        if provides.artifact_name.as_deref() == Some(self.artifact_name.as_str()) {
            Outcome::Final(Status::Success, None)
        } else {
            Outcome::Final(
                Status::Failure,
                Some(format!(
                    "{} is not the installed artifact ({}): the update was rolled back or did \
                     not finish",
                    self.artifact_name,
                    provides.artifact_name.as_deref().unwrap_or("none recorded")
                )),
            )
        }
    }
}

/// The file.
#[derive(Debug, Clone)]
pub struct Outbox {
    path: PathBuf,
}

impl Outbox {
    /// The outbox of `datastore`.
    pub fn new(datastore: &Path) -> Self {
        Self {
            path: datastore.join("artifact-gate/deployment.json"),
        }
    }

    fn error(&self, e: impl std::fmt::Display) -> ServerError {
        ServerError::Device(format!("{}: {e}", self.path.display()))
    }

    /// The deployment in flight, if any.
    pub fn load(&self) -> Result<Option<InFlight>, ServerError> {
        match read_optional(&self.path).map_err(|e| self.error(e))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.error(e)),
        }
    }

    /// Records `deployment` (crash-safe).
    pub fn save(&self, deployment: &InFlight) -> Result<(), ServerError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        }
        let bytes = serde_json::to_vec_pretty(deployment).map_err(|e| self.error(e))?;
        write_atomic(&self.path, &bytes).map_err(|e| self.error(e))
    }

    /// Forgets it, once the server has heard the end.
    pub fn clear(&self) -> Result<(), ServerError> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.error(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provides(name: &str) -> Provides {
        Provides {
            artifact_name: Some(name.to_owned()),
            ..Provides::default()
        }
    }

    #[test]
    fn the_device_state_decides_how_a_deployment_ended() {
        let d = InFlight {
            id: "d1".to_owned(),
            artifact_name: "release-2".to_owned(),
            log: Vec::new(),
            failed: false,
        };
        assert_eq!(
            d.outcome(None, &provides("release-2")),
            Outcome::Final(Status::Success, None)
        );
        assert!(matches!(
            d.outcome(None, &provides("release-1")),
            Outcome::Final(Status::Failure, Some(why)) if why.contains("release-1")
        ));
    }

    #[test]
    fn it_survives_on_disk_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        assert_eq!(outbox.load().unwrap(), None);
        let d = InFlight {
            id: "d1".to_owned(),
            artifact_name: "a".to_owned(),
            log: Vec::new(),
            failed: true,
        };
        outbox.save(&d).unwrap();
        assert_eq!(outbox.load().unwrap(), Some(d));
        outbox.clear().unwrap();
        outbox.clear().unwrap();
        assert_eq!(outbox.load().unwrap(), None);
    }
}
