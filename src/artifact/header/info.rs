//! `header-info` (spec §5.2): the payload type, the artifact's name and group, the device types
//! and what the artifact depends on.

use serde_json::Value;

use super::{HeaderError, PayloadType, json_member};
use crate::artifact::file_names;
use crate::artifact::json::{CiObject, FieldProblem};

pub(super) struct HeaderInfo {
    pub(super) payload_type: PayloadType,
    pub(super) artifact_name: String,
    pub(super) artifact_group: Option<String>,
    pub(super) device_types: Vec<String>,
    pub(super) depends_artifact_name: Vec<String>,
    pub(super) depends_artifact_group: Vec<String>,
}

impl HeaderInfo {
    /// Spec §5.2: `payloads`, `artifact_provides`, `artifact_depends`; unknown keys refused (as
    /// the Go reader does), exactly one payload.
    pub(super) fn parse(raw: &[u8]) -> Result<Self, HeaderError> {
        let (value, field) = json_member("header-info", raw)?;
        let top = CiObject::new(&value, "").map_err(field)?;
        top.only(&["payloads", "artifact_provides", "artifact_depends"])
            .map_err(field)?;

        let Value::Array(payloads) = top.required("payloads").map_err(field)? else {
            return Err(field(FieldProblem::new("payloads", "must be an array")));
        };
        let payload = match payloads.as_slice() {
            [one] => one,
            [] => return Err(field(FieldProblem::new("payloads", "is empty"))),
            _ => {
                return Err(field(FieldProblem::new(
                    "payloads",
                    format!("lists {} payloads; only one is supported", payloads.len()),
                )));
            }
        };
        let payload = CiObject::new(payload, "payloads[0]").map_err(field)?;
        payload.only(&["type"]).map_err(field)?;
        let payload_type = match payload.required("type").map_err(field)? {
            Value::Null => PayloadType::Empty,
            Value::String(s) if s.is_empty() => {
                return Err(field(FieldProblem::new(
                    "payloads[0].type",
                    "is an empty string",
                )));
            }
            Value::String(s) => {
                file_names::check_file_name(s, 255).map_err(|reason| {
                    HeaderError::BadPayloadType {
                        name: s.clone(),
                        reason,
                    }
                })?;
                PayloadType::Named(s.clone())
            }
            _ => {
                return Err(field(FieldProblem::new(
                    "payloads[0].type",
                    "must be a string or null",
                )));
            }
        };

        let provides = CiObject::new(
            top.required("artifact_provides").map_err(field)?,
            "artifact_provides",
        )
        .map_err(field)?;
        provides
            .only(&["artifact_name", "artifact_group"])
            .map_err(field)?;
        let artifact_name = provides
            .string("artifact_name")
            .map_err(field)?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                field(FieldProblem::new(
                    "artifact_provides.artifact_name",
                    "is required and must not be empty",
                ))
            })?;
        let artifact_group = provides.string("artifact_group").map_err(field)?;

        let depends = CiObject::new(
            top.required("artifact_depends").map_err(field)?,
            "artifact_depends",
        )
        .map_err(field)?;
        depends
            .only(&["device_type", "artifact_name", "artifact_group"])
            .map_err(field)?;
        let device_types = depends
            .string_list("device_type")
            .map_err(field)?
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                field(FieldProblem::new(
                    "artifact_depends.device_type",
                    "is required and must list at least one device type",
                ))
            })?;
        Ok(Self {
            payload_type,
            artifact_name,
            artifact_group,
            device_types,
            depends_artifact_name: depends
                .string_list("artifact_name")
                .map_err(field)?
                .unwrap_or_default(),
            depends_artifact_group: depends
                .string_list("artifact_group")
                .map_err(field)?
                .unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<HeaderInfo, HeaderError> {
        HeaderInfo::parse(json.as_bytes())
    }

    const GOOD: &str = r#"{"payloads":[{"type":"single-file"}],
        "artifact_provides":{"artifact_name":"app-1","artifact_group":"g"},
        "artifact_depends":{"device_type":["bbb","qemu"]}}"#;

    #[test]
    fn a_well_formed_header_info_gives_its_fields() {
        let info = parse(GOOD).unwrap();
        assert_eq!(info.payload_type, PayloadType::Named("single-file".into()));
        assert_eq!(info.artifact_name, "app-1");
        assert_eq!(info.artifact_group.as_deref(), Some("g"));
        assert_eq!(info.device_types, ["bbb", "qemu"]);
    }

    #[test]
    fn a_null_type_is_an_empty_payload() {
        let info = parse(&GOOD.replace(r#""single-file""#, "null")).unwrap();
        assert_eq!(info.payload_type, PayloadType::Empty);
    }

    #[test]
    fn unknown_keys_second_payloads_and_bad_types_are_refused_naming_the_field() {
        for (json, words) in [
            (
                GOOD.replace("\"payloads\"", "\"extra\":1,\"payloads\""),
                "extra",
            ),
            (
                GOOD.replace(
                    r#"[{"type":"single-file"}]"#,
                    r#"[{"type":"a"},{"type":"b"}]"#,
                ),
                "lists 2 payloads",
            ),
            (
                GOOD.replace(r#"[{"type":"single-file"}]"#, "[]"),
                "is empty",
            ),
            (GOOD.replace(r#""single-file""#, r#""""#), "empty string"),
        ] {
            let e = parse(&json)
                .err()
                .unwrap_or_else(|| panic!("accepted {json}"));
            assert!(matches!(e, HeaderError::Field { .. }), "{e}");
            assert!(e.to_string().contains(words), "{e}");
        }
        let e = parse(&GOOD.replace("single-file", "../escape"))
            .err()
            .unwrap();
        assert!(matches!(e, HeaderError::BadPayloadType { .. }), "{e}");
    }

    #[test]
    fn duplicate_keys_and_broken_json_are_json_errors() {
        for json in [
            GOOD.replace("\"payloads\"", "\"payloads\":[],\"payloads\""),
            "{".to_owned(),
        ] {
            let e = parse(&json).err().unwrap();
            assert!(matches!(e, HeaderError::Json { .. }), "{e}");
        }
    }
}
