//! The floors below which an artifact is refused however validly it is signed (issue #16 items
//! 2 and 3): the highest release version and the highest security version the device ever
//! committed. Pure decisions; where a floor is kept (a file, a TPM counter) is
//! [`crate::state::floor`]'s business.

use std::collections::BTreeMap;

use super::PolicyError;
use super::version::{self, VersionScheme};

/// The floors `[policy]` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FloorPolicy {
    /// `version_provide` and `version_scheme`.
    pub version: Option<VersionRule>,
    /// `security_version_provide`: an integer provides key.
    pub security_provide: Option<String>,
}

/// The provides key that carries the release version, and how its values are ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRule {
    /// For example `rootfs-image.version`.
    pub provide: String,
    /// How two values compare.
    pub scheme: VersionScheme,
}

impl FloorPolicy {
    /// Whether any floor is asked for.
    pub fn is_active(&self) -> bool {
        self.version.is_some() || self.security_provide.is_some()
    }
}

/// What the device committed so far: the current floors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floors {
    /// The highest release version committed, if any.
    pub version: Option<String>,
    /// The highest security version committed, if any, and where it is kept.
    pub security: Option<(u64, String)>,
}

/// The floors an install is held to.
#[derive(Debug, Clone, Default)]
pub struct FloorCheck {
    /// What is configured.
    pub policy: FloorPolicy,
    /// What the device committed.
    pub floors: Floors,
    /// `install --allow-downgrade`: the release-version floor does not apply to this one
    /// install (the security floor always does).
    pub allow_downgrade: bool,
    /// The largest step up the security floor can take in one commit (a TPM counter counts
    /// one at a time); `None` for no limit.
    pub max_security_step: Option<u64>,
}

/// Whether an artifact providing `provides` may be installed over `check`'s floors.
pub fn check_floor(
    provides: &BTreeMap<String, String>,
    check: &FloorCheck,
) -> Result<(), PolicyError> {
    if let Some(rule) = &check.policy.version {
        let found = required(provides, &rule.provide, "version_provide")?;
        let unreadable = |detail| PolicyError::UnreadableVersion {
            key: rule.provide.clone(),
            detail,
        };
        rule.scheme.check(found).map_err(unreadable)?;
        if let Some(floor) = &check.floors.version {
            let order = rule.scheme.compare(found, floor).map_err(unreadable)?;
            if order.is_lt() {
                if !check.allow_downgrade {
                    return Err(PolicyError::Downgrade {
                        key: rule.provide.clone(),
                        floor: floor.clone(),
                        found: found.to_owned(),
                    });
                }
                tracing::warn!(
                    key = %rule.provide,
                    floor = %floor,
                    version = %found,
                    "downgrade allowed once by --allow-downgrade"
                );
            }
        }
    }
    if let Some(key) = &check.policy.security_provide {
        let found = required(provides, key, "security_version_provide")?;
        let found =
            version::parse_integer(found).map_err(|why| PolicyError::UnreadableVersion {
                key: key.clone(),
                detail: format!("'{found}' {why}"),
            })?;
        if let Some((floor, store)) = &check.floors.security {
            if found < *floor {
                return Err(PolicyError::SecurityDowngrade {
                    key: key.clone(),
                    floor: *floor,
                    found,
                    store: store.clone(),
                });
            }
            if let Some(step) = check.max_security_step
                && found - floor > step
            {
                return Err(PolicyError::SecurityStep {
                    key: key.clone(),
                    floor: *floor,
                    found,
                    step,
                });
            }
        }
    }
    Ok(())
}

fn required<'a>(
    provides: &'a BTreeMap<String, String>,
    key: &str,
    setting: &'static str,
) -> Result<&'a str, PolicyError> {
    provides
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| PolicyError::NoVersion {
            key: key.to_owned(),
            setting,
        })
}

/// The floors once an artifact providing `provides` is committed: each rises to the
/// artifact's value when that is higher, and never falls (an allowed downgrade leaves it).
pub fn raised(
    policy: &FloorPolicy,
    floors: &Floors,
    provides: &BTreeMap<String, String>,
) -> Floors {
    let mut next = floors.clone();
    if let Some(rule) = &policy.version
        && let Some(found) = provides.get(&rule.provide)
    {
        let higher = match &floors.version {
            None => rule.scheme.check(found).is_ok(),
            Some(floor) => rule.scheme.compare(found, floor).is_ok_and(|o| o.is_gt()),
        };
        if higher {
            next.version = Some(found.clone());
        }
    }
    if let Some(key) = &policy.security_provide
        && let Some(found) = provides
            .get(key)
            .and_then(|v| version::parse_integer(v).ok())
    {
        match &mut next.security {
            Some((floor, _)) if *floor >= found => {}
            Some((floor, _)) => *floor = found,
            None => next.security = Some((found, String::new())),
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn check(floor: Option<&str>, security: Option<u64>) -> FloorCheck {
        FloorCheck {
            policy: FloorPolicy {
                version: Some(VersionRule {
                    provide: "rootfs-image.version".into(),
                    scheme: VersionScheme::Semver,
                }),
                security_provide: Some("artifact_gate.security_version".into()),
            },
            floors: Floors {
                version: floor.map(str::to_owned),
                security: security.map(|s| (s, "tpm-nv:0x1500016".to_owned())),
            },
            allow_downgrade: false,
            max_security_step: Some(1000),
        }
    }

    const V: &str = "rootfs-image.version";
    const S: &str = "artifact_gate.security_version";

    #[test]
    fn a_lower_version_is_a_downgrade_and_an_equal_one_is_not() {
        let c = check(Some("1.4.0"), None);
        let e = check_floor(&provides(&[(V, "1.3.9"), (S, "1")]), &c).unwrap_err();
        assert_eq!(
            e.to_string(),
            "downgrade from 1.4.0 to 1.3.9 (rootfs-image.version): the device has committed \
             1.4.0; 'install --allow-downgrade' overrides this once"
        );
        assert_eq!(
            check_floor(&provides(&[(V, "1.4.0"), (S, "1")]), &c),
            Ok(())
        );
        assert_eq!(
            check_floor(&provides(&[(V, "1.10.0"), (S, "1")]), &c),
            Ok(())
        );
        let mut allowed = c.clone();
        allowed.allow_downgrade = true;
        assert_eq!(
            check_floor(&provides(&[(V, "1.3.9"), (S, "1")]), &allowed),
            Ok(())
        );
    }

    #[test]
    fn a_missing_or_unreadable_version_is_refused_with_the_reason() {
        let c = check(None, None);
        let e = check_floor(&provides(&[(S, "1")]), &c).unwrap_err();
        assert!(
            e.to_string().contains("provides no 'rootfs-image.version'")
                && e.to_string().contains("[policy] version_provide"),
            "{e}"
        );
        let e = check_floor(&provides(&[(V, "release-2"), (S, "1")]), &c).unwrap_err();
        assert!(
            e.to_string()
                .contains("'release-2' is not a semantic version"),
            "{e}"
        );
        let e = check_floor(&provides(&[(V, "1.0.0"), (S, "one")]), &c).unwrap_err();
        assert!(
            e.to_string()
                .contains("'one' is not a whole decimal number"),
            "{e}"
        );
    }

    #[test]
    fn the_security_floor_ignores_allow_downgrade_and_bounds_the_step() {
        let mut c = check(None, Some(5));
        c.allow_downgrade = true;
        let e = check_floor(&provides(&[(V, "1.0.0"), (S, "4")]), &c).unwrap_err();
        assert_eq!(
            e.to_string(),
            "security version 4 (artifact_gate.security_version) is below the device's floor 5, \
             kept in tpm-nv:0x1500016; nothing overrides this floor"
        );
        assert_eq!(
            check_floor(&provides(&[(V, "1.0.0"), (S, "5")]), &c),
            Ok(())
        );
        let e = check_floor(&provides(&[(V, "1.0.0"), (S, "1006")]), &c).unwrap_err();
        assert!(e.to_string().contains("more than 1000"), "{e}");
    }

    #[test]
    fn floors_only_rise() {
        let c = check(Some("1.4.0"), Some(3));
        let up = raised(&c.policy, &c.floors, &provides(&[(V, "1.5.0"), (S, "4")]));
        assert_eq!(up.version.as_deref(), Some("1.5.0"));
        assert_eq!(up.security.as_ref().map(|s| s.0), Some(4));
        let down = raised(&c.policy, &c.floors, &provides(&[(V, "1.3.0"), (S, "2")]));
        assert_eq!(down, c.floors, "an allowed downgrade leaves the floors");
        let first = raised(&c.policy, &Floors::default(), &provides(&[(V, "0.1.0")]));
        assert_eq!(first.version.as_deref(), Some("0.1.0"));
    }
}
