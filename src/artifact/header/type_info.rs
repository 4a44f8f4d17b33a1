//! `headers/0000/type-info` (spec §5.3): the payload type again, and the payload's provides,
//! depends and `clears_artifact_provides`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{HeaderError, PayloadType, json_member};
use crate::artifact::json::{self, CiObject, FieldProblem};

pub(super) struct TypeInfo {
    /// `None` for JSON null, `Some("")` for the legacy rootfs-image form.
    pub(super) payload_type: Option<String>,
    pub(super) provides: BTreeMap<String, String>,
    pub(super) depends: BTreeMap<String, Vec<String>>,
    pub(super) clears: Option<Vec<String>>,
}

impl TypeInfo {
    /// Spec §5.3. Provides values are strings; depends values are strings or string arrays
    /// (the Go client accepts both; we do too, and keep a string as a one-element list).
    pub(super) fn parse(raw: &[u8]) -> Result<Self, HeaderError> {
        let (value, field) = json_member("headers/0000/type-info", raw)?;
        let top = CiObject::new(&value, "").map_err(field)?;
        top.only(&[
            "type",
            "artifact_provides",
            "artifact_depends",
            "clears_artifact_provides",
        ])
        .map_err(field)?;
        let payload_type = match top.required("type").map_err(field)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(field(FieldProblem::new("type", "must be a string or null"))),
        };
        let mut provides = BTreeMap::new();
        if let Some(v) = top.get("artifact_provides") {
            CiObject::new(v, "artifact_provides").map_err(field)?;
            for (key, value) in original_entries(v) {
                match value {
                    Value::String(s) => {
                        provides.insert(key.clone(), s.clone());
                    }
                    _ => {
                        return Err(field(FieldProblem::new(
                            format!("artifact_provides.{key}"),
                            "must be a string",
                        )));
                    }
                }
            }
        }
        let mut depends = BTreeMap::new();
        if let Some(v) = top.get("artifact_depends") {
            CiObject::new(v, "artifact_depends").map_err(field)?;
            for (key, value) in original_entries(v) {
                let path = format!("artifact_depends.{key}");
                let list = match value {
                    Value::String(s) => vec![s.clone()],
                    other => json::string_list(other, &path).map_err(field)?,
                };
                depends.insert(key.clone(), list);
            }
        }
        let clears = top.string_list("clears_artifact_provides").map_err(field)?;
        Ok(Self {
            payload_type,
            provides,
            depends,
            clears,
        })
    }
}

/// Entries of a provides/depends object with their keys as written (these keys are data, so
/// their case is kept; the [`CiObject`] already refused case-only duplicates).
pub(super) fn original_entries(value: &Value) -> Vec<(&String, &Value)> {
    match value {
        Value::Object(map) => map.iter().collect(),
        _ => Vec::new(),
    }
}

/// Spec §5.3: type-info's type must equal header-info's, except the legacy `""` that
/// mender-artifact 3.0–4.3 writes for rootfs-image.
pub(super) fn check_type_agreement(
    info: &PayloadType,
    type_info: &Option<String>,
) -> Result<(), HeaderError> {
    let agrees = match (info, type_info.as_deref()) {
        (PayloadType::Empty, None) => true,
        (PayloadType::Named(n), Some("")) => n == "rootfs-image",
        (PayloadType::Named(n), Some(t)) => n == t,
        _ => false,
    };
    if agrees {
        Ok(())
    } else {
        Err(HeaderError::TypeMismatch {
            header_info: info.name().map(str::to_owned),
            type_info: type_info.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_take_a_string_or_a_list_and_provides_only_strings() {
        let t = TypeInfo::parse(
            br#"{"type":"single-file","artifact_provides":{"a.version":"1"},
                "artifact_depends":{"one":"x","many":["y","z"]},
                "clears_artifact_provides":["a.*"]}"#,
        )
        .unwrap();
        assert_eq!(t.payload_type.as_deref(), Some("single-file"));
        assert_eq!(t.provides.get("a.version").map(String::as_str), Some("1"));
        assert_eq!(t.depends.get("one"), Some(&vec!["x".to_owned()]));
        assert_eq!(t.depends.get("many").map(Vec::len), Some(2));
        assert_eq!(t.clears.as_deref(), Some(&["a.*".to_owned()][..]));

        let e = TypeInfo::parse(br#"{"type":"single-file","artifact_provides":{"a":1}}"#)
            .err()
            .unwrap();
        assert!(matches!(e, HeaderError::Field { .. }), "{e}");
    }

    #[test]
    fn header_info_and_type_info_must_agree_on_the_type() {
        let named = PayloadType::Named("single-file".into());
        assert!(check_type_agreement(&named, &Some("single-file".into())).is_ok());
        let e = check_type_agreement(&named, &Some("directory".into())).unwrap_err();
        assert!(matches!(e, HeaderError::TypeMismatch { .. }), "{e}");
        assert!(check_type_agreement(&PayloadType::Empty, &None).is_ok());
    }
}
