//! The device's provides: what the installed artifacts claim about the device (spec §7.5).
//!
//! Pure data and rules; loading and saving is [`crate::state::persist`]'s job. At commit the new
//! artifact's `clears_artifact_provides` globs remove old keys and its type-info provides are
//! added; an artifact without `clears_artifact_provides` replaces the provides entirely (the
//! historical `["*"]` meaning, as the C++ client does).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::artifact::CheckedHeader;

/// What the device provides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// Name of the installed artifact.
    pub artifact_name: Option<String>,
    /// Group of the installed artifact.
    pub artifact_group: Option<String>,
    /// Every other provide (`rootfs-image.version`, `rootfs-image.checksum`, …).
    pub values: BTreeMap<String, String>,
}

impl Provides {
    /// The value of `key`; `artifact_name` and `artifact_group` included.
    pub fn get(&self, key: &str) -> Option<&str> {
        match key {
            "artifact_name" => self.artifact_name.as_deref(),
            "artifact_group" => self.artifact_group.as_deref(),
            _ => self.values.get(key).map(String::as_str),
        }
    }

    /// The provides once `header`'s artifact is committed.
    pub fn after_commit(&self, header: &CheckedHeader) -> Self {
        self.after(&ArtifactClaims::of(header))
    }

    /// The provides once an artifact making `claims` is committed.
    pub fn after(&self, claims: &ArtifactClaims) -> Self {
        let mut values = match &claims.clears_provides {
            None => BTreeMap::new(),
            Some(globs) => self
                .values
                .iter()
                .filter(|(key, _)| !globs.iter().any(|g| glob_match(g, key)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        values.extend(claims.provides.clone());
        let clears_group = claims
            .clears_provides
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|g| glob_match(g, "artifact_group")));
        let artifact_group = match &claims.artifact_group {
            Some(group) => Some(group.clone()),
            None if clears_group => None,
            None => self.artifact_group.clone(),
        };
        Self {
            artifact_name: Some(claims.artifact_name.clone()),
            artifact_group,
            values,
        }
    }
}

/// What an artifact claims about the device once committed: the part of its header the
/// provides store needs, kept in the install state between install and commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactClaims {
    /// Artifact name.
    pub artifact_name: String,
    /// Artifact group.
    pub artifact_group: Option<String>,
    /// type-info provides.
    pub provides: BTreeMap<String, String>,
    /// type-info `clears_artifact_provides`.
    pub clears_provides: Option<Vec<String>>,
}

impl ArtifactClaims {
    /// The claims of a verified header.
    pub fn of(header: &CheckedHeader) -> Self {
        Self {
            artifact_name: header.artifact_name().to_owned(),
            artifact_group: header.artifact_group().map(str::to_owned),
            provides: header.provides().clone(),
            clears_provides: header.clears_provides().map(<[String]>::to_vec),
        }
    }
}

/// Matches `key` against a clears glob, where `*` stands for any run of characters (spec §5.3).
pub fn glob_match(pattern: &str, key: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = key.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        // No '*' at all: an exact match.
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("rootfs-image.*", "rootfs-image.version"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(glob_match("artifact_group", "artifact_group"));
        assert!(!glob_match("artifact_group", "artifact_group2"));
        assert!(!glob_match("rootfs-image.*", "rootfs_image_checksum"));
        assert!(!glob_match("a*bc", "abc-bc-x"));
        assert!(glob_match("*.version", "rootfs-image.single-file.version"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
