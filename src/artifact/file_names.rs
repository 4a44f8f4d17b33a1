//! Rules for names taken from an artifact: payload file names and state-script names.
//!
//! Names from an artifact end up as paths on the device (`streams/<name>`, `files/<name>`,
//! `scripts/<name>`), so they must be single, plain path components. Mender's 2025 fixes for
//! MEN-9056 and MEN-9057 (spec §10) were both about names that escaped their directory; here a
//! name that could do so is never accepted in the first place.

use std::fmt;

use thiserror::Error;

/// A payload file name that passed [`check_payload_name`]: one plain path component of ASCII
/// letters, digits and `.,_-`, safe to join under `streams/` or `files/`. Only that check
/// mints one:
///
/// ```compile_fail,E0423
/// let forged = artifact_gate::artifact::file_names::PayloadName("../../etc/shadow".to_owned());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayloadName(String);

/// A state-script name that passed [`check_script_name`]
/// (`Artifact<State>_<Enter|Leave|Error>_<NN>[_<suffix>]`). Only that check mints one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScriptName(String);

macro_rules! checked_name {
    ($name:ident) => {
        impl $name {
            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

checked_name!(PayloadName);
checked_name!(ScriptName);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than the limit.
    #[error("name is {len} bytes long, over the limit of {max}")]
    TooLong {
        /// Length found.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The name is `.` or `..`, or contains a `..` path component.
    #[error("name contains a '..' or '.' path component (path traversal)")]
    Traversal,
    /// The name contains a `/` or `\`: it is not a single path component.
    #[error("name contains a path separator")]
    Separator,
    /// The name contains NUL, whitespace or another control character.
    #[error("name contains NUL, whitespace or a control character")]
    BadCharacter,
    /// A payload file name with a character outside mender-artifact's set.
    #[error(
        "payload file names may hold only ASCII letters, digits and '.', ',', '_', '-' \
         (mender-artifact's rule)"
    )]
    NotPayloadCharacter,
    /// The name does not follow the state-script grammar.
    #[error(
        "not a valid artifact state-script name (expected \
         Artifact<State>_<Enter|Leave|Error>_<NN>[_<suffix>])"
    )]
    NotAScriptName,
}

/// Checks a payload file name (`data/0000/<name>`): one plain path component.
pub fn check_file_name(name: &str, max_len: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max_len {
        return Err(NameError::TooLong {
            len: name.len(),
            max: max_len,
        });
    }
    if name
        .split(['/', '\\'])
        .any(|component| component == ".." || component == ".")
    {
        return Err(NameError::Traversal);
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator);
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NameError::BadCharacter);
    }
    Ok(())
}

/// Checks a payload file name (`data/0000/<name>`, in the manifest and in the payload tar) by
/// the rule mender-artifact's reader enforces, `^[\w\-.,]+$` with ASCII `\w` (spec §6): letters,
/// digits and `.,_-` only. Non-ASCII, spaces, `*` and every other character are refused.
pub fn check_payload_name(name: &str, max_len: usize) -> Result<PayloadName, NameError> {
    check_file_name(name, max_len)?;
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b',' | b'_' | b'-'))
    {
        Ok(PayloadName(name.to_owned()))
    } else {
        Err(NameError::NotPayloadCharacter)
    }
}

/// States an artifact may carry scripts for (spec §5.5); `Download`, `Idle` and `Sync` scripts
/// live only on the device.
pub const ARTIFACT_SCRIPT_STATES: [&str; 6] = [
    "ArtifactInstall",
    "ArtifactReboot",
    "ArtifactRollback",
    "ArtifactRollbackReboot",
    "ArtifactCommit",
    "ArtifactFailure",
];

/// Checks a state-script name from the header (`scripts/<name>`, spec §5.5):
/// `Artifact<State>_<Enter|Leave|Error>_<two digits>[_<suffix>]`, the suffix being letters,
/// digits, `_`, `-` and `.` (never a path).
pub fn check_script_name(name: &str, max_len: usize) -> Result<ScriptName, NameError> {
    check_file_name(name, max_len)?;
    let mut parts = name.splitn(4, '_');
    let state = parts.next().unwrap_or_default();
    let action = parts.next().unwrap_or_default();
    let order = parts.next().unwrap_or_default();
    let suffix = parts.next();
    let state_ok = ARTIFACT_SCRIPT_STATES.contains(&state);
    let action_ok = matches!(action, "Enter" | "Leave" | "Error");
    let order_ok = order.len() == 2 && order.bytes().all(|b| b.is_ascii_digit());
    let suffix_ok = suffix.is_none_or(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    });
    if state_ok && action_ok && order_ok && suffix_ok {
        Ok(ScriptName(name.to_owned()))
    } else {
        Err(NameError::NotAScriptName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_pass() {
        for ok in ["rootfs.ext4", "f1.txt", "a..b", "x,y-z_1"] {
            assert_eq!(check_file_name(ok, 255), Ok(()), "{ok}");
        }
    }

    #[test]
    fn traversal_and_separators_are_refused() {
        assert_eq!(check_file_name("..", 255), Err(NameError::Traversal));
        assert_eq!(check_file_name("../etc", 255), Err(NameError::Traversal));
        assert_eq!(check_file_name("a/../b", 255), Err(NameError::Traversal));
        assert_eq!(check_file_name("a/b", 255), Err(NameError::Separator));
        assert_eq!(check_file_name("/abs", 255), Err(NameError::Separator));
        assert_eq!(check_file_name("a\0b", 255), Err(NameError::BadCharacter));
        assert_eq!(check_file_name("a b", 255), Err(NameError::BadCharacter));
        assert_eq!(check_file_name("", 255), Err(NameError::Empty));
        assert!(matches!(
            check_file_name("aaaa", 3),
            Err(NameError::TooLong { .. })
        ));
    }

    #[test]
    fn payload_names_follow_mender_artifacts_character_set() {
        for ok in ["rootfs.ext4", "x,y-z_1", "A.B", "0"] {
            assert_eq!(
                check_payload_name(ok, 255).map(|n| n.to_string()),
                Ok(ok.to_owned())
            );
        }
        // mender-artifact's reader test refuses `test_update*`.
        for bad in ["test_update*", "é.txt", "a+b", "a:b", "a~", "a\u{202e}b"] {
            assert_eq!(
                check_payload_name(bad, 255),
                Err(NameError::NotPayloadCharacter),
                "{bad}"
            );
        }
        // The path rules still come first, with their own reasons.
        assert_eq!(check_payload_name("..", 255), Err(NameError::Traversal));
        assert_eq!(check_payload_name("a/b", 255), Err(NameError::Separator));
    }

    #[test]
    fn script_grammar() {
        for ok in [
            "ArtifactInstall_Enter_00",
            "ArtifactCommit_Leave_99_notify",
            "ArtifactRollbackReboot_Error_10_a.b-c_d",
        ] {
            assert_eq!(
                check_script_name(ok, 255).map(|n| n.to_string()),
                Ok(ok.to_owned())
            );
        }
        for bad in [
            "Download_Enter_00",
            "ArtifactInstall_Enter_0",
            "ArtifactInstall_Start_00",
            "ArtifactInstall_Enter_00_",
            "ArtifactInstall_Enter_00_x;y",
        ] {
            assert_eq!(
                check_script_name(bad, 255),
                Err(NameError::NotAScriptName),
                "{bad}"
            );
        }
        assert_eq!(
            check_script_name("ArtifactInstall_Enter_00_x y", 255),
            Err(NameError::BadCharacter)
        );
        assert_eq!(
            check_script_name("ArtifactInstall_Enter_00_/../../x", 255),
            Err(NameError::Traversal)
        );
    }
}
