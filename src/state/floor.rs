//! Where the floors live (issue #16 items 2 and 3): `<datastore>/artifact-gate/floor.json`, and
//! for the security version optionally a TPM NV counter ([`super::tpm_counter`]), which wiping
//! or restoring the data partition cannot lower.
//!
//! A floor is read before an install (the check itself is [`crate::policy::floor`]'s) and
//! raised only at commit. It is never below what the device's provides say is installed, so
//! turning a floor on protects the release already running, and a commit whose floor could not
//! be written is caught up at the next one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::persist;
use super::provides::Provides;
use super::tpm_counter::TpmCounter;
use crate::policy::floor::{self, FloorCheck, FloorPolicy, Floors};
use crate::policy::version::{self, VersionScheme};

/// The largest rise of a TPM-kept security floor in one commit: each step is one NV write.
pub const MAX_TPM_STEP: u64 = 1000;

/// `[policy] floor_store`: where the security floor is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FloorStore {
    /// In `floor.json` on the data partition.
    #[default]
    File,
    /// In a TPM 2.0 NV counter.
    Tpm(TpmCounter),
}

impl FloorStore {
    /// `file` or `tpm-nv:<index>` (hex with `0x`, or decimal), the index in the NV range.
    pub fn parse(text: &str, tcti: Option<&str>) -> Result<Self, String> {
        if text == "file" {
            return Ok(Self::File);
        }
        let Some(index) = text.strip_prefix("tpm-nv:") else {
            return Err(format!(
                "'{text}' is neither \"file\" nor \"tpm-nv:<index>\""
            ));
        };
        let parsed = match index
            .strip_prefix("0x")
            .or_else(|| index.strip_prefix("0X"))
        {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => index.parse().ok(),
        };
        match parsed {
            Some(index) if (0x0100_0000..=0x01FF_FFFF).contains(&index) => {
                Ok(Self::Tpm(TpmCounter {
                    index,
                    tcti: tcti.map(str::to_owned),
                }))
            }
            _ => Err(format!(
                "'{index}' is not an NV index (0x1000000 to 0x1ffffff, for example 0x1500016)"
            )),
        }
    }

    fn describe(&self, path: &Path) -> String {
        match self {
            Self::File => format!("file {}", path.display()),
            Self::Tpm(counter) => format!("tpm-nv:{}", counter.handle()),
        }
    }
}

/// A floor that cannot be read or raised.
#[derive(Debug, Error)]
pub enum FloorError {
    /// `floor.json`.
    #[error("downgrade floor {path}: {problem}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The TPM counter.
    #[error("security floor in TPM NV index {index}: {problem}")]
    Tpm {
        /// The index.
        index: String,
        /// What went wrong.
        problem: String,
    },
}

/// What `floor.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorded {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<RecordedVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    security_version: Option<u64>,
}

/// A release-version floor, with the key and scheme it was recorded under: a floor is only
/// compared under the rule that wrote it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedVersion {
    provide: String,
    scheme: VersionScheme,
    value: String,
}

/// Reads and raises the device's floors as `[policy]` configures them.
#[derive(Debug, Clone, Default)]
pub struct FloorKeeper {
    policy: FloorPolicy,
    store: FloorStore,
    path: PathBuf,
}

impl FloorKeeper {
    /// The floors of the device whose state is under `datastore`.
    pub fn new(datastore: &Path, policy: FloorPolicy, store: FloorStore) -> Self {
        Self {
            policy,
            store,
            path: datastore.join("artifact-gate/floor.json"),
        }
    }

    /// What is configured.
    pub fn policy(&self) -> &FloorPolicy {
        &self.policy
    }

    /// The check an install is held to, or `None` when no floor is configured (then nothing
    /// is read).
    pub fn check(
        &self,
        installed: &Provides,
        allow_downgrade: bool,
    ) -> Result<Option<FloorCheck>, FloorError> {
        if !self.policy.is_active() {
            return Ok(None);
        }
        Ok(Some(FloorCheck {
            policy: self.policy.clone(),
            floors: self.read(installed)?,
            allow_downgrade,
            max_security_step: matches!(self.store, FloorStore::Tpm(_)).then_some(MAX_TPM_STEP),
        }))
    }

    /// The current floors: the recorded ones, never below the installed artifact's values.
    pub fn read(&self, installed: &Provides) -> Result<Floors, FloorError> {
        let recorded = self.load()?;
        let mut floors = Floors::default();
        if let Some(rule) = &self.policy.version {
            let kept = recorded
                .version
                .filter(|v| {
                    let same = v.provide == rule.provide && v.scheme == rule.scheme;
                    if !same {
                        tracing::warn!(
                            recorded = %v.provide,
                            scheme = v.scheme.name(),
                            "the downgrade floor was recorded under another version_provide or \
                             version_scheme; it starts again from the installed version"
                        );
                    }
                    same
                })
                .map(|v| v.value);
            floors.version = [kept, installed.get(&rule.provide).map(str::to_owned)]
                .into_iter()
                .flatten()
                .filter(|v| rule.scheme.check(v).is_ok())
                .max_by(|a, b| {
                    rule.scheme
                        .compare(a, b)
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
        }
        if let Some(key) = &self.policy.security_provide {
            let running = installed
                .get(key)
                .and_then(|v| version::parse_integer(v).ok());
            let kept = match &self.store {
                FloorStore::File => recorded.security_version,
                FloorStore::Tpm(counter) => {
                    Some(counter.floor().map_err(|problem| tpm(counter, problem))?)
                }
            };
            floors.security = kept
                .max(running)
                .map(|floor| (floor, self.store.describe(&self.path)));
        }
        Ok(floors)
    }

    /// At commit: raises each floor to the committed artifact's value where that is higher.
    pub fn raise(
        &self,
        installed: &Provides,
        committed: &BTreeMap<String, String>,
    ) -> Result<(), FloorError> {
        if !self.policy.is_active() {
            return Ok(());
        }
        let before = self.read(installed)?;
        let after = floor::raised(&self.policy, &before, committed);
        if after == before {
            return Ok(());
        }
        if let (FloorStore::Tpm(counter), Some((value, _))) = (&self.store, &after.security) {
            counter
                .raise_to(*value)
                .map_err(|problem| tpm(counter, problem))?;
        }
        let mut recorded = self.load()?;
        if let (Some(rule), Some(value)) = (&self.policy.version, &after.version) {
            recorded.version = Some(RecordedVersion {
                provide: rule.provide.clone(),
                scheme: rule.scheme,
                value: value.clone(),
            });
        }
        if let (FloorStore::File, Some((value, _))) = (&self.store, &after.security) {
            recorded.security_version = Some(*value);
        }
        let bytes = serde_json::to_vec_pretty(&recorded).map_err(|e| self.error(e))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        }
        persist::write_atomic(&self.path, &bytes).map_err(|e| self.error(e))?;
        tracing::info!(
            version = after.version.as_deref().unwrap_or("-"),
            security_version = after.security.as_ref().map_or(0, |s| s.0),
            "floors raised at commit"
        );
        Ok(())
    }

    fn load(&self) -> Result<Recorded, FloorError> {
        match persist::read_optional(&self.path).map_err(|e| self.error(e))? {
            None => Ok(Recorded::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.error(e)),
        }
    }

    fn error(&self, e: impl std::fmt::Display) -> FloorError {
        FloorError::Record {
            path: self.path.clone(),
            problem: e.to_string(),
        }
    }
}

fn tpm(counter: &TpmCounter, problem: String) -> FloorError {
    FloorError::Tpm {
        index: counter.handle(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::floor::VersionRule;

    fn keeper(dir: &Path) -> FloorKeeper {
        FloorKeeper::new(
            dir,
            FloorPolicy {
                version: Some(VersionRule {
                    provide: "app.version".into(),
                    scheme: VersionScheme::Integer,
                }),
                security_provide: Some("app.security".into()),
            },
            FloorStore::File,
        )
    }

    fn installed(version: &str) -> Provides {
        Provides {
            values: [("app.version".to_owned(), version.to_owned())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_floor_starts_at_the_installed_version_and_only_rises() {
        let dir = tempfile::tempdir().unwrap();
        let k = keeper(dir.path());
        assert_eq!(
            k.read(&installed("7")).unwrap().version.as_deref(),
            Some("7")
        );
        let up: BTreeMap<_, _> = [
            ("app.version".to_owned(), "9".to_owned()),
            ("app.security".to_owned(), "2".to_owned()),
        ]
        .into();
        k.raise(&installed("7"), &up).unwrap();
        // An allowed downgrade to 3 is then committed: the floor stays at 9.
        let down: BTreeMap<_, _> = [("app.version".to_owned(), "3".to_owned())].into();
        k.raise(&installed("9"), &down).unwrap();
        let floors = k.read(&installed("3")).unwrap();
        assert_eq!(floors.version.as_deref(), Some("9"));
        assert_eq!(floors.security.map(|s| s.0), Some(2));
    }

    #[test]
    fn a_floor_store_is_file_or_an_nv_index() {
        assert_eq!(FloorStore::parse("file", None), Ok(FloorStore::File));
        let FloorStore::Tpm(c) =
            FloorStore::parse("tpm-nv:0x1500016", Some("device:/dev/tpmrm0")).unwrap()
        else {
            panic!("not a TPM store");
        };
        assert_eq!((c.index, c.handle()), (0x0150_0016, "0x1500016".to_owned()));
        for bad in ["tpm", "tpm-nv:", "tpm-nv:0x81000001", "tpm-nv:xyz", "File"] {
            assert!(FloorStore::parse(bad, None).is_err(), "{bad}");
        }
    }
}
