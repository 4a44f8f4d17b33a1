//! What the channel's current file led to, remembered across restarts with its validator
//! (`<datastore>/artifact-gate/channel.json`, written crash-safely). The next poll sends that
//! validator in `If-None-Match`/`If-Modified-Since`, so a refused or skipped artifact costs a
//! `304` until the channel changes. Failures that may pass (a lost link, a full disk) are not
//! remembered: the next poll tries again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PollResult;
use crate::fetch::download::Validator;
use crate::state::persist;

/// One remembered version of the channel's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The URL as polled (templates filled in).
    pub url: String,
    /// Its validator then.
    pub validator: Validator,
    /// What it led to.
    pub result: PollResult,
}

/// The file.
#[derive(Debug, Clone)]
pub struct Memory {
    path: PathBuf,
}

impl Memory {
    /// Under `datastore` (`/var/lib/mender`).
    pub fn new(datastore: &Path) -> Self {
        Self {
            path: datastore.join("artifact-gate").join("channel.json"),
        }
    }

    /// What was remembered for `url`; a file that cannot be read counts as nothing (the cost
    /// is one download of the head).
    pub fn recall(&self, url: &str) -> Option<Seen> {
        let bytes = persist::read_optional(&self.path).ok().flatten()?;
        let seen: Seen = serde_json::from_slice(&bytes).ok()?;
        (seen.url == url).then_some(seen)
    }

    /// Remembers `seen`, replacing what was there.
    pub fn remember(&self, seen: &Seen) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(seen).map_err(std::io::Error::other)?;
        persist::write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_url_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Seen {
            url: "https://h/a.mender".to_owned(),
            validator: Validator::Etag("\"abc\"".to_owned()),
            result: PollResult {
                result: "rejected".to_owned(),
                detail: "bad signature".to_owned(),
                artifact_name: None,
            },
        };
        Memory::new(dir.path()).remember(&seen).unwrap();
        assert_eq!(Memory::new(dir.path()).recall(&seen.url), Some(seen));
        assert_eq!(Memory::new(dir.path()).recall("https://h/other"), None);
    }
}
