//! Whether a verified artifact is meant for this device.
//!
//! Pure decisions over a [`CheckedHeader`]; where the device facts come from (the
//! `device_type` file, the provides store) is the caller's business. Spec §7.4: the device type
//! must be one of `artifact_depends.device_type`, compared as exact strings.

pub mod floor;
pub mod version;

use thiserror::Error;

use crate::artifact::CheckedHeader;
use crate::state::provides::Provides;

/// Why an artifact does not fit the device.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// An `artifact_depends` is not met.
    #[error(transparent)]
    Depends(#[from] DependsError),
    /// The device type is not among the artifact's compatible types.
    #[error(
        "artifact is for device types {}, not for {}",
        crate::error::escape::quoted_list(.supported),
        crate::error::escape::quoted(.device)
    )]
    IncompatibleDevice {
        /// This device's type.
        device: String,
        /// The artifact's list.
        supported: Vec<String>,
    },
    /// The key that signed may not sign this (`[[policy.key]]`, issue #16).
    #[error("key '{key}' may only sign {scope}; this artifact's {what}")]
    OutOfScope {
        /// The key's label.
        key: String,
        /// What it may sign.
        scope: String,
        /// What falls outside.
        what: String,
    },
    /// The release version is below the highest one committed (`[policy] version_provide`).
    #[error(
        "downgrade from {floor} to {found} ({key}): the device has committed {floor}; \
         'install --allow-downgrade' overrides this once"
    )]
    Downgrade {
        /// The provides key.
        key: String,
        /// The highest version committed.
        floor: String,
        /// The artifact's.
        found: String,
    },
    /// The security version is below the floor (`[policy] security_version_provide`).
    #[error(
        "security version {found} ({key}) is below the device's floor {floor}, kept in \
         {store}; nothing overrides this floor"
    )]
    SecurityDowngrade {
        /// The provides key.
        key: String,
        /// The floor.
        floor: u64,
        /// The artifact's.
        found: u64,
        /// Where the floor is kept (`file`, `tpm-nv:0x…`).
        store: String,
    },
    /// The security version jumps further than the floor can follow in one commit.
    #[error(
        "security version {found} ({key}) is more than {step} above the device's floor \
         {floor}; a TPM counter rises one step at a time, so raise the floor in smaller steps"
    )]
    SecurityStep {
        /// The provides key.
        key: String,
        /// The floor.
        floor: u64,
        /// The artifact's.
        found: u64,
        /// The largest step.
        step: u64,
    },
    /// The artifact does not provide the key a floor is read from.
    #[error(
        "the artifact provides no '{key}', which [policy] {setting} needs to refuse downgrades; \
         build it with 'mender-artifact write ... --provides {key}:<version>'"
    )]
    NoVersion {
        /// The provides key.
        key: String,
        /// The setting that names it.
        setting: &'static str,
    },
    /// The artifact's version cannot be ordered by the configured scheme.
    #[error("the artifact's {key}: {detail}")]
    UnreadableVersion {
        /// The provides key.
        key: String,
        /// Why.
        detail: String,
    },
}

/// Whether the verified header is inside the scope of the key that signed it.
pub fn check_scope(
    header: &CheckedHeader,
    key: &str,
    scope: &crate::signature::KeyScope,
) -> Result<(), PolicyError> {
    let fits = |patterns: &[String], value: &str| {
        patterns.is_empty()
            || patterns
                .iter()
                .any(|p| crate::state::provides::glob_match(p, value))
    };
    let out = |what: String| PolicyError::OutOfScope {
        key: key.to_owned(),
        scope: scope.describe(),
        what,
    };
    let payload = header.payload_type().name();
    if !scope.payload_types.is_empty() && !payload.is_some_and(|p| fits(&scope.payload_types, p)) {
        return Err(out(format!(
            "payload type is {}",
            payload.map_or_else(
                || "none (an empty payload)".to_owned(),
                |p| crate::error::escape::quoted(p).to_string()
            )
        )));
    }
    if let Some(t) = header
        .device_types()
        .iter()
        .find(|t| !fits(&scope.device_types, t))
    {
        return Err(out(format!(
            "device type {} is outside it",
            crate::error::escape::quoted(t)
        )));
    }
    if !fits(&scope.artifact_names, header.artifact_name()) {
        return Err(out(format!(
            "name {} is outside it",
            crate::error::escape::quoted(header.artifact_name())
        )));
    }
    Ok(())
}

/// An `artifact_depends` the device does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "artifact depends on {} being one of {}; the device has {}",
    crate::error::escape::quoted(.key),
    crate::error::escape::quoted_list(.wanted),
    found.as_deref().map_or("none".to_owned(), |f| crate::error::escape::quoted(f).to_string())
)]
pub struct DependsError {
    /// The provides key.
    pub key: String,
    /// Acceptable values.
    pub wanted: Vec<String>,
    /// What the device has.
    pub found: Option<String>,
}

/// Checks every `artifact_depends` of `header` against the device's `provides` (spec §7.5):
/// header-info `artifact_name` and `artifact_group` lists, then each type-info depends. A key
/// the device does not provide fails the check.
pub fn check_depends(header: &CheckedHeader, provides: &Provides) -> Result<(), DependsError> {
    let lists = [
        ("artifact_name", header.depends_artifact_name()),
        ("artifact_group", header.depends_artifact_group()),
    ];
    let header_info = lists
        .into_iter()
        .filter(|(_, wanted)| !wanted.is_empty())
        .map(|(key, wanted)| (key.to_owned(), wanted.to_vec()));
    let type_info = header.depends().iter().map(|(k, v)| (k.clone(), v.clone()));
    for (key, wanted) in header_info.chain(type_info) {
        let found = provides.get(&key);
        if !found.is_some_and(|f| wanted.iter().any(|w| w == f)) {
            return Err(DependsError {
                key,
                wanted,
                found: found.map(str::to_owned),
            });
        }
    }
    Ok(())
}

/// What is known about the target device.
#[derive(Debug, Clone, Default)]
pub struct DeviceFacts {
    /// The device type to check against, if any.
    pub device_type: Option<String>,
    /// The device's provides, to check `artifact_depends` against, if known.
    pub provides: Option<Provides>,
    /// The downgrade and security floors, when `[policy]` sets them (installs only).
    pub floor: Option<floor::FloorCheck>,
}

/// Checks `header` against `device`; called before any payload byte is handed on.
pub fn check(header: &CheckedHeader, device: &DeviceFacts) -> Result<(), PolicyError> {
    if let Some(device_type) = &device.device_type
        && !header.device_types().iter().any(|t| t == device_type)
    {
        return Err(PolicyError::IncompatibleDevice {
            device: device_type.clone(),
            supported: header.device_types().to_vec(),
        });
    }
    if let Some(provides) = &device.provides {
        check_depends(header, provides)?;
    }
    if let Some(floor) = &device.floor {
        floor::check_floor(header.provides(), floor)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::header::HeaderForTests;

    fn header() -> HeaderForTests {
        HeaderForTests {
            payload_type: Some("rootfs-image".into()),
            artifact_name: "release-2".into(),
            device_types: vec!["beaglebone".into()],
            provides: [("rootfs-image.version".to_owned(), "release-2".to_owned())].into(),
            clears_provides: Some(vec!["rootfs-image.*".into()]),
            ..Default::default()
        }
    }

    fn checked(h: &HeaderForTests) -> CheckedHeader {
        h.clone().into()
    }

    fn device() -> Provides {
        Provides {
            artifact_name: Some("release-1".into()),
            artifact_group: Some("stable".into()),
            values: [
                ("rootfs-image.version".to_owned(), "release-1".to_owned()),
                ("rootfs-image.checksum".to_owned(), "abc".to_owned()),
                ("app.version".to_owned(), "7".to_owned()),
            ]
            .into(),
        }
    }

    #[test]
    fn device_type_must_be_listed() {
        let facts = DeviceFacts {
            device_type: Some("raspberrypi4".into()),
            provides: None,
            floor: None,
        };
        assert!(matches!(
            check(&checked(&header()), &facts),
            Err(PolicyError::IncompatibleDevice { .. })
        ));
        assert_eq!(check(&checked(&header()), &DeviceFacts::default()), Ok(()));
    }

    #[test]
    fn depends_on_name_group_and_type_info_keys() {
        let mut h = header();
        assert_eq!(check_depends(&checked(&h), &device()), Ok(()));
        h.depends_artifact_name = vec!["release-0".into(), "release-1".into()];
        assert_eq!(check_depends(&checked(&h), &device()), Ok(()));
        h.depends_artifact_group = vec!["beta".into()];
        let err = check_depends(&checked(&h), &device()).unwrap_err();
        assert_eq!(err.key, "artifact_group");
        assert_eq!(err.found.as_deref(), Some("stable"));
        h.depends_artifact_group.clear();
        h.depends.insert("app.version".into(), vec!["8".into()]);
        assert_eq!(
            check_depends(&checked(&h), &device()).unwrap_err().key,
            "app.version"
        );
        h.depends.insert("app.version".into(), vec!["7".into()]);
        h.depends.insert("bootloader".into(), vec!["2".into()]);
        let err = check_depends(&checked(&h), &device()).unwrap_err();
        assert_eq!((err.key.as_str(), err.found), ("bootloader", None));
    }

    #[test]
    fn commit_applies_clears_then_provides() {
        let after = device().after_commit(&checked(&header()));
        assert_eq!(after.artifact_name.as_deref(), Some("release-2"));
        // The group is kept: the artifact does not clear it.
        assert_eq!(after.artifact_group.as_deref(), Some("stable"));
        assert_eq!(after.get("rootfs-image.version"), Some("release-2"));
        assert_eq!(
            after.get("rootfs-image.checksum"),
            None,
            "cleared by rootfs-image.*"
        );
        assert_eq!(
            after.get("app.version"),
            Some("7"),
            "not matched by any clears glob"
        );

        let mut no_clears = header();
        no_clears.clears_provides = None;
        let after = device().after_commit(&checked(&no_clears));
        assert_eq!(
            after.get("app.version"),
            None,
            "no clears list replaces everything"
        );
        assert_eq!(after.artifact_group, None);
    }
}
