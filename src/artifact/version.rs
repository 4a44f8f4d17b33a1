//! The `version` entry: `{"format":"mender","version":3}` (spec §1.1, §1.4).
//!
//! Only format version 3 is accepted: version 2 has no provides/depends and the C++ client
//! dropped it too. The entry is parsed only after its hash matched the verified manifest.

use serde_json::Value;
use thiserror::Error;

use super::json::CiObject;

/// Why `version` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    /// Not JSON, or not an object of the expected shape.
    #[error("'version' is not {{\"format\":\"mender\",\"version\":3}}: {0}")]
    Malformed(String),
    /// `format` is not `mender`.
    #[error("'version' format is {}, expected 'mender'", crate::error::escape::quoted(.0))]
    NotMender(String),
    /// A format version other than 3.
    #[error("artifact format version {0} is not supported (only version 3)")]
    Unsupported(i64),
}

/// Checks a `version` entry; returns the format version (always 3).
pub fn parse(raw: &[u8]) -> Result<u32, VersionError> {
    let value = super::json::parse_unique(raw).map_err(VersionError::Malformed)?;
    let obj = CiObject::new(&value, "").map_err(|p| VersionError::Malformed(p.to_string()))?;
    obj.only(&["format", "version"])
        .map_err(|p| VersionError::Malformed(p.to_string()))?;
    match obj.get("format") {
        Some(Value::String(f)) if f == "mender" => {}
        Some(Value::String(f)) => return Err(VersionError::NotMender(f.clone())),
        _ => {
            return Err(VersionError::Malformed(
                "'format' must be a string".to_owned(),
            ));
        }
    }
    match obj.get("version").and_then(Value::as_i64) {
        Some(3) => Ok(3),
        Some(other) => Err(VersionError::Unsupported(other)),
        None => Err(VersionError::Malformed(
            "'version' must be an integer".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mender_v3() {
        assert_eq!(parse(br#"{"format":"mender","version":3}"#), Ok(3));
        assert_eq!(parse(br#"{"Format":"mender","VERSION":3}"#), Ok(3));
        assert_eq!(
            parse(br#"{"format":"mender","version":2}"#),
            Err(VersionError::Unsupported(2))
        );
        assert_eq!(
            parse(br#"{"format":"other","version":3}"#),
            Err(VersionError::NotMender("other".into()))
        );
        assert!(matches!(parse(b"[]"), Err(VersionError::Malformed(_))));
        assert!(matches!(
            parse(br#"{"format":"mender","version":3,"x":1}"#),
            Err(VersionError::Malformed(_))
        ));
    }
}
