//! `header.tar[.gz|.xz|.zst]`: hash-checked first, then parsed into a [`CheckedHeader`].
//!
//! Spec §5 and §12.7: the whole compressed header is buffered (bounded by
//! [`crate::stream::limits::Limits::max_header_bytes`]) and its SHA-256 compared with the verified manifest
//! before a single byte of it is decompressed or parsed. The tar inside must hold, in this order:
//! `header-info`, any `scripts/<name>`, `headers/0000/type-info`, an optional
//! `headers/0000/meta-data` — nothing else (C++ client order, spec §5.1).

mod error;
mod info;
mod members;
mod type_info;

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;

use crate::artifact::compression::{self, Compression};
use crate::artifact::file_names::{self, ScriptName};
use crate::artifact::json::{self, FieldProblem};
use crate::stream::limits::Limits;
use info::HeaderInfo;
use members::read_members;
use type_info::{TypeInfo, check_type_agreement};

pub use error::HeaderError;

/// What the payload holds (header-info `payloads[0].type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadType {
    /// `null`: an empty payload (bootstrap artifact, spec §5.6).
    Empty,
    /// `rootfs-image` or the name of an Update Module.
    Named(String),
}

impl PayloadType {
    /// The type name, or `None` for an empty payload.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Empty => None,
            Self::Named(n) => Some(n),
        }
    }
}

/// The verified, parsed header: a proof that the header's bytes hashed to what the verified
/// manifest lists and parsed under spec §5. Only `CheckedHeader::parse_verified` builds one,
/// and only the artifact reader calls it, after that hash check; its fields are private, so no
/// other code can assemble one:
///
/// ```compile_fail,E0451
/// use artifact_gate::artifact::{CheckedHeader, PayloadType};
/// let forged = CheckedHeader {
///     payload_type: PayloadType::Empty,
///     artifact_name: "forged".to_owned(),
///     ..todo!()
/// };
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedHeader {
    /// Payload type.
    payload_type: PayloadType,
    /// `artifact_provides.artifact_name`.
    artifact_name: String,
    /// `artifact_provides.artifact_group`.
    artifact_group: Option<String>,
    /// `artifact_depends.device_type`: the devices this artifact is for.
    device_types: Vec<String>,
    /// `artifact_depends.artifact_name`: artifacts this one may be installed over.
    depends_artifact_name: Vec<String>,
    /// `artifact_depends.artifact_group`.
    depends_artifact_group: Vec<String>,
    /// type-info `artifact_provides`.
    provides: BTreeMap<String, String>,
    /// type-info `artifact_depends` (string values are kept as one-element lists).
    depends: BTreeMap<String, Vec<String>>,
    /// type-info `clears_artifact_provides` (globs).
    clears_provides: Option<Vec<String>>,
    /// `headers/0000/meta-data`, when present and non-empty.
    meta_data: Option<Value>,
    /// State scripts in header order: (name, contents).
    scripts: Vec<(ScriptName, Vec<u8>)>,
    /// `header-info` bytes exactly as stored (for the Update Module file tree).
    raw_header_info: Vec<u8>,
    /// `type-info` bytes exactly as stored.
    raw_type_info: Vec<u8>,
}

impl CheckedHeader {
    /// `payloads[0].type`: what the payload holds.
    pub fn payload_type(&self) -> &PayloadType {
        &self.payload_type
    }

    /// `artifact_provides.artifact_name`.
    pub fn artifact_name(&self) -> &str {
        &self.artifact_name
    }

    /// `artifact_provides.artifact_group`.
    pub fn artifact_group(&self) -> Option<&str> {
        self.artifact_group.as_deref()
    }

    /// `artifact_depends.device_type`: the devices this artifact is for.
    pub fn device_types(&self) -> &[String] {
        &self.device_types
    }

    /// `artifact_depends.artifact_name`: artifacts this one may be installed over.
    pub fn depends_artifact_name(&self) -> &[String] {
        &self.depends_artifact_name
    }

    /// `artifact_depends.artifact_group`.
    pub fn depends_artifact_group(&self) -> &[String] {
        &self.depends_artifact_group
    }

    /// type-info `artifact_provides`.
    pub fn provides(&self) -> &BTreeMap<String, String> {
        &self.provides
    }

    /// type-info `artifact_depends` (a string value is kept as a one-element list).
    pub fn depends(&self) -> &BTreeMap<String, Vec<String>> {
        &self.depends
    }

    /// type-info `clears_artifact_provides` (globs), when present.
    pub fn clears_provides(&self) -> Option<&[String]> {
        self.clears_provides.as_deref()
    }

    /// `headers/0000/meta-data`, when present and non-empty.
    pub fn meta_data(&self) -> Option<&Value> {
        self.meta_data.as_ref()
    }

    /// State scripts in header order: (name, contents).
    pub fn scripts(&self) -> &[(ScriptName, Vec<u8>)] {
        &self.scripts
    }

    /// `header-info` exactly as stored (for the Update Module file tree).
    pub fn raw_header_info(&self) -> &[u8] {
        &self.raw_header_info
    }

    /// `type-info` exactly as stored.
    pub fn raw_type_info(&self) -> &[u8] {
        &self.raw_type_info
    }
}

/// Every field of a [`CheckedHeader`], for unit tests of the stages after the reader (policy,
/// provides). Only test builds have it: outside them the one way to a `CheckedHeader` is
/// [`CheckedHeader::parse_verified`].
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderForTests {
    pub(crate) payload_type: Option<String>,
    pub(crate) artifact_name: String,
    pub(crate) artifact_group: Option<String>,
    pub(crate) device_types: Vec<String>,
    pub(crate) depends_artifact_name: Vec<String>,
    pub(crate) depends_artifact_group: Vec<String>,
    pub(crate) provides: BTreeMap<String, String>,
    pub(crate) depends: BTreeMap<String, Vec<String>>,
    pub(crate) clears_provides: Option<Vec<String>>,
}

#[cfg(test)]
impl From<HeaderForTests> for CheckedHeader {
    fn from(h: HeaderForTests) -> Self {
        Self {
            payload_type: h
                .payload_type
                .map_or(PayloadType::Empty, PayloadType::Named),
            artifact_name: h.artifact_name,
            artifact_group: h.artifact_group,
            device_types: h.device_types,
            depends_artifact_name: h.depends_artifact_name,
            depends_artifact_group: h.depends_artifact_group,
            provides: h.provides,
            depends: h.depends,
            clears_provides: h.clears_provides,
            meta_data: None,
            scripts: Vec::new(),
            raw_header_info: Vec::new(),
            raw_type_info: Vec::new(),
        }
    }
}

impl CheckedHeader {
    /// Parses header bytes whose hash already matched the verified manifest.
    pub(crate) fn parse_verified(
        entry_name: &str,
        compressed: &[u8],
        limits: &Limits,
    ) -> Result<Self, HeaderError> {
        let named = Compression::from_name(entry_name, "header.tar").unwrap_or(Compression::None);
        let decoder = compression::open(compressed, named, limits.max_xz_memory_bytes)
            .map_err(|e| HeaderError::Malformed(e.to_string()))?
            .map_err(|m| HeaderError::SuffixMismatch {
                name: entry_name.to_owned(),
                found: m.found,
            })?;
        let limited = decoder.take(limits.max_header_unpacked.saturating_add(1));
        let members = read_members(limited, limits)?;
        Self::from_members(members, limits)
    }

    fn from_members(members: Vec<(String, Vec<u8>)>, limits: &Limits) -> Result<Self, HeaderError> {
        let mut iter = members.into_iter().peekable();
        let Some((first, raw_header_info)) = iter.next() else {
            return Err(HeaderError::Missing("header-info"));
        };
        if first != "header-info" {
            return Err(HeaderError::UnexpectedMember {
                member: first,
                expected: "'header-info' first",
            });
        }
        let mut scripts: Vec<(ScriptName, Vec<u8>)> = Vec::new();
        while let Some((name, _)) = iter.peek() {
            let Some(script) = name.strip_prefix("scripts/") else {
                break;
            };
            let checked =
                file_names::check_script_name(script, limits.max_name_len).map_err(|reason| {
                    HeaderError::BadScriptName {
                        name: script.to_owned(),
                        reason,
                    }
                })?;
            if scripts.iter().any(|(n, _)| *n == checked) {
                return Err(HeaderError::Duplicate(name.clone()));
            }
            let script = checked;
            if let Some((_, body)) = iter.next() {
                scripts.push((script, body));
            }
        }
        let (raw_type_info, raw_meta) = match iter.next() {
            Some((name, body)) if name == "headers/0000/type-info" => {
                let meta = match iter.next() {
                    Some((name, body)) if name == "headers/0000/meta-data" => Some(body),
                    Some((name, _)) => {
                        return Err(unexpected(name, "'headers/0000/meta-data' or the end"));
                    }
                    None => None,
                };
                (body, meta)
            }
            Some((name, _)) => {
                if let Some(index) = name
                    .strip_prefix("headers/")
                    .and_then(|rest| rest.strip_suffix("/type-info"))
                    .filter(|i| *i != "0000")
                {
                    return Err(HeaderError::WrongIndex {
                        index: index.to_owned(),
                        member: name,
                    });
                }
                return Err(unexpected(name, "'scripts/…' or 'headers/0000/type-info'"));
            }
            None => return Err(HeaderError::Missing("headers/0000/type-info")),
        };
        if let Some((name, _)) = iter.next() {
            return Err(unexpected(name, "the end of the header"));
        }

        let info = HeaderInfo::parse(&raw_header_info)?;
        let type_info = TypeInfo::parse(&raw_type_info)?;
        check_type_agreement(&info.payload_type, &type_info.payload_type)?;
        let meta_data = match raw_meta {
            None => None,
            Some(body) if body.iter().all(u8::is_ascii_whitespace) => None,
            Some(body) => {
                let v = json::parse_unique(&body).map_err(|detail| HeaderError::Json {
                    member: "headers/0000/meta-data",
                    detail,
                })?;
                if !v.is_object() {
                    return Err(HeaderError::Field {
                        member: "headers/0000/meta-data",
                        problem: FieldProblem::new("(top level)", "must be a JSON object"),
                    });
                }
                Some(v)
            }
        };
        if info.payload_type == PayloadType::Empty {
            // Spec §5.6: bootstrap artifacts carry neither scripts nor meta-data.
            if !scripts.is_empty() {
                return Err(HeaderError::EmptyPayloadExtras("state scripts"));
            }
            if meta_data.is_some() {
                return Err(HeaderError::EmptyPayloadExtras("meta-data"));
            }
        }
        Ok(Self {
            payload_type: info.payload_type,
            artifact_name: info.artifact_name,
            artifact_group: info.artifact_group,
            device_types: info.device_types,
            depends_artifact_name: info.depends_artifact_name,
            depends_artifact_group: info.depends_artifact_group,
            provides: type_info.provides,
            depends: type_info.depends,
            clears_provides: type_info.clears,
            meta_data,
            scripts,
            raw_header_info,
            raw_type_info,
        })
    }
}

/// A header JSON member (`header-info`, `type-info`) parsed with duplicate keys refused, and
/// the error for a field of it (spec §5).
pub(super) fn json_member(
    member: &'static str,
    raw: &[u8],
) -> Result<(Value, impl Fn(FieldProblem) -> HeaderError + Copy), HeaderError> {
    let value = json::parse_unique(raw).map_err(|detail| HeaderError::Json { member, detail })?;
    Ok((value, move |problem| HeaderError::Field { member, problem }))
}

/// A payload type as a message names it: quoted, or `null` for an empty payload.
pub(super) fn payload_type_words(value: Option<&str>) -> String {
    value.map_or_else(
        || "null".to_owned(),
        |v| crate::error::escape::quoted(v).to_string(),
    )
}

pub(super) fn unexpected(member: String, expected: &'static str) -> HeaderError {
    if member == "headers/0000/files" {
        return HeaderError::V2Files;
    }
    if member.starts_with("headers/") && !member.starts_with("headers/0000/") {
        return HeaderError::SecondPayload(member);
    }
    HeaderError::UnexpectedMember { member, expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"{"payloads":[{"type":"single-file"}],
        "artifact_provides":{"artifact_name":"app-1"},
        "artifact_depends":{"device_type":["bbb"]}}"#;
    const TYPE_INFO: &str = r#"{"type":"single-file","artifact_provides":{"a.version":"1"}}"#;

    fn header_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut h, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn parse(members: &[(&str, &[u8])]) -> Result<CheckedHeader, HeaderError> {
        CheckedHeader::parse_verified("header.tar", &header_tar(members), &Limits::default())
    }

    #[test]
    fn members_in_spec_order_give_a_checked_header() {
        let h = parse(&[
            ("header-info", INFO.as_bytes()),
            ("scripts/ArtifactInstall_Enter_00", b"#!/bin/sh\n"),
            ("headers/0000/type-info", TYPE_INFO.as_bytes()),
            ("headers/0000/meta-data", br#"{"k":"v"}"#),
        ])
        .unwrap();
        assert_eq!(h.artifact_name(), "app-1");
        assert_eq!(h.payload_type().name(), Some("single-file"));
        assert_eq!(h.device_types(), ["bbb"]);
        assert_eq!(h.provides().get("a.version").map(String::as_str), Some("1"));
        assert_eq!(h.scripts().len(), 1);
        assert!(h.meta_data().is_some());
        assert_eq!(h.raw_header_info(), INFO.as_bytes());
    }

    #[test]
    fn members_out_of_order_missing_or_from_another_format_are_refused() {
        let info = ("header-info", INFO.as_bytes());
        let type_info = ("headers/0000/type-info", TYPE_INFO.as_bytes());
        let e = parse(&[type_info, info]).unwrap_err();
        assert!(matches!(e, HeaderError::UnexpectedMember { .. }), "{e}");
        let e = parse(&[info]).unwrap_err();
        assert!(matches!(e, HeaderError::Missing(_)), "{e}");
        let e = parse(&[]).unwrap_err();
        assert!(matches!(e, HeaderError::Missing("header-info")), "{e}");
        let e = parse(&[info, ("headers/0000/files", b"{}"), type_info]).unwrap_err();
        assert!(matches!(e, HeaderError::V2Files), "{e}");
        let e = parse(&[
            info,
            type_info,
            ("headers/0001/type-info", TYPE_INFO.as_bytes()),
        ])
        .unwrap_err();
        assert!(matches!(e, HeaderError::SecondPayload(_)), "{e}");
        let e = parse(&[info, ("scripts/NotAState_Enter_00", b"x"), type_info]).unwrap_err();
        assert!(
            matches!(
                e,
                HeaderError::BadScriptName { .. } | HeaderError::BadMemberName { .. }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_header_whose_name_and_content_disagree_on_compression_is_refused() {
        let plain = header_tar(&[("header-info", INFO.as_bytes())]);
        let e =
            CheckedHeader::parse_verified("header.tar.gz", &plain, &Limits::default()).unwrap_err();
        assert!(matches!(e, HeaderError::SuffixMismatch { .. }), "{e}");
    }
}
