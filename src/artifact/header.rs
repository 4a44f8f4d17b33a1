//! `header.tar[.gz|.xz|.zst]`: hash-checked first, then parsed into a [`CheckedHeader`].
//!
//! Spec §5 and §12.7: the whole compressed header is buffered (bounded by
//! [`crate::stream::limits::Limits::max_header`]) and its SHA-256 compared with the verified manifest
//! before a single byte of it is decompressed or parsed. The tar inside must hold, in this order:
//! `header-info`, any `scripts/<name>`, `headers/0000/type-info`, an optional
//! `headers/0000/meta-data` — nothing else (C++ client order, spec §5.1).

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::Value;
use thiserror::Error;

use super::compression::{self, Compression};
use super::json::{self, CiObject, FieldProblem};
use super::tar_rules::{self, EntryNameError, TarEnd};
use crate::artifact::names::{self, NameError, ScriptName};
use crate::stream::limits::Limits;
use crate::stream::{self, IoClass};

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

/// Why a header was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// The header's compression does not match its name.
    #[error("header is named '{}' but its content is {found}", crate::error::escape::escaped(.name))]
    SuffixMismatch {
        /// Entry name.
        name: String,
        /// What the content is.
        found: Compression,
    },
    /// The tar or compressed stream inside the header is broken.
    #[error("header archive is malformed: {0}")]
    Malformed(String),
    /// A header member that is not a regular file.
    #[error("header member '{}' is not a regular file ({kind})", crate::error::escape::escaped(.member))]
    NotRegular {
        /// Member name.
        member: String,
        /// Its tar type.
        kind: String,
    },
    /// A header member with a dangerous or invalid name.
    #[error("header member '{}': {reason}", crate::error::escape::escaped(.name))]
    BadMemberName {
        /// The name, lossily decoded.
        name: String,
        /// Why.
        reason: EntryNameError,
    },
    /// A member that does not belong in a v3 header, or is out of order.
    #[error("header member '{}' is not allowed here (expected {expected})", crate::error::escape::escaped(.member))]
    UnexpectedMember {
        /// Member name.
        member: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `headers/0000/files` is a format-v2 member (spec §1.4).
    #[error("header member 'headers/0000/files' belongs to format version 2, not 3")]
    V2Files,
    /// The first payload's headers under another index than `0000`.
    #[error(
        "header member '{}' is at payload index {}, but the artifact's only payload is \
         0000 (expected 'headers/0000/type-info')",
        crate::error::escape::escaped(.member),
        crate::error::escape::escaped(.index)
    )]
    WrongIndex {
        /// Member name.
        member: String,
        /// The index it names.
        index: String,
    },
    /// A second payload's headers: only one payload is supported.
    #[error("header member '{}' describes a second payload; only one payload is supported", crate::error::escape::escaped(.0))]
    SecondPayload(String),
    /// A member appears twice.
    #[error("header member '{}' appears twice", crate::error::escape::escaped(.0))]
    Duplicate(String),
    /// A required member is missing.
    #[error("header has no '{}'", crate::error::escape::escaped(.0))]
    Missing(&'static str),
    /// A state script with an invalid name.
    #[error("state script '{}': {reason}", crate::error::escape::escaped(.name))]
    BadScriptName {
        /// Script name.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// A member is not valid JSON.
    #[error("header member '{}' is not valid JSON: {detail}", crate::error::escape::escaped(.member))]
    Json {
        /// Member name.
        member: &'static str,
        /// Parser message.
        detail: String,
    },
    /// A JSON field is missing or has the wrong shape.
    #[error("header member '{member}': {problem}")]
    Field {
        /// Member name.
        member: &'static str,
        /// The problem.
        problem: FieldProblem,
    },
    /// type-info's type disagrees with header-info's.
    #[error(
        "type-info says payload type {} but header-info says {}",
        payload_type_words(.type_info.as_deref()),
        payload_type_words(.header_info.as_deref())
    )]
    TypeMismatch {
        /// header-info value.
        header_info: Option<String>,
        /// type-info value.
        type_info: Option<String>,
    },
    /// A payload type that cannot name an Update Module.
    #[error("payload type '{}' is not a valid module name: {reason}", crate::error::escape::escaped(.name))]
    BadPayloadType {
        /// The type.
        name: String,
        /// Why.
        reason: NameError,
    },
    /// An empty-payload artifact with parts only real payloads have.
    #[error("empty-payload artifact must not carry {0}")]
    EmptyPayloadExtras(&'static str),
    /// Decompressed header larger than the limit.
    #[error("decompressed header exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// More header members than the limit.
    #[error("header holds more than {0} members")]
    TooManyMembers(usize),
    /// Data after the header tar's end.
    #[error("header archive: {0}")]
    End(TarEnd),
}

impl CheckedHeader {
    /// Parses header bytes whose hash already matched the verified manifest.
    pub(crate) fn parse_verified(
        entry_name: &str,
        compressed: &[u8],
        limits: &Limits,
    ) -> Result<Self, HeaderError> {
        let named = Compression::from_name(entry_name, "header.tar").unwrap_or(Compression::None);
        let decoder = compression::open(compressed, named, limits.max_xz_memory)
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
                names::check_script_name(script, limits.max_name_len).map_err(|reason| {
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

/// A payload type as a message names it: quoted, or `null` for an empty payload.
fn payload_type_words(value: Option<&str>) -> String {
    value.map_or_else(
        || "null".to_owned(),
        |v| crate::error::escape::quoted(v).to_string(),
    )
}

fn unexpected(member: String, expected: &'static str) -> HeaderError {
    if member == "headers/0000/files" {
        return HeaderError::V2Files;
    }
    if member.starts_with("headers/") && !member.starts_with("headers/0000/") {
        return HeaderError::SecondPayload(member);
    }
    HeaderError::UnexpectedMember { member, expected }
}

/// Reads every member of the header tar into memory, enforcing names, types and limits.
fn read_members<R: Read>(
    reader: R,
    limits: &Limits,
) -> Result<Vec<(String, Vec<u8>)>, HeaderError> {
    let malformed = |e: std::io::Error| match stream::classify(e) {
        IoClass::Malformed(m) => HeaderError::Malformed(m),
        IoClass::Truncated {
            expected: 0,
            found: 0,
        } => HeaderError::Malformed(
            "its compressed stream stops before its end marker (cut short)".to_owned(),
        ),
        IoClass::Truncated { expected, found } => HeaderError::Malformed(format!(
            "a member ends after {found} of its {expected} bytes"
        )),
        IoClass::Source(e) => HeaderError::Malformed(e.to_string()),
        IoClass::TooLarge(limit) => HeaderError::Malformed(format!(
            "the artifact is larger than the limit of {limit} bytes"
        )),
        IoClass::InflateRatio { limit, .. } => {
            HeaderError::Malformed(format!("it inflates more than {limit}:1"))
        }
        IoClass::BadPax(pax) => HeaderError::Malformed(pax.to_string()),
    };
    let mut archive = tar::Archive::new(tar_rules::ExtensionGuard::new(
        reader,
        limits.max_tar_extension,
    ));
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    {
        let entries = archive.entries().map_err(malformed)?;
        for entry in entries {
            let entry = entry.map_err(malformed)?;
            let name = tar_rules::member_name(&entry, limits.max_name_len)
                .map_err(|(name, reason)| HeaderError::BadMemberName { name, reason })?;
            if let Err(kind) = tar_rules::require_regular(&entry) {
                return Err(HeaderError::NotRegular { member: name, kind });
            }
            if members.len() >= limits.max_header_members {
                return Err(HeaderError::TooManyMembers(limits.max_header_members));
            }
            if members.iter().any(|(n, _)| *n == name) {
                return Err(HeaderError::Duplicate(name));
            }
            let size = entry.size();
            total = total.saturating_add(size);
            if total > limits.max_header_unpacked {
                return Err(HeaderError::TooLarge(limits.max_header_unpacked));
            }
            let body = stream::read_bounded(stream::ExactReader::new(entry, size), size)
                .map_err(malformed)?
                .unwrap_or_default();
            members.push((name, body));
        }
    }
    match tar_rules::check_end_of_archive(archive.into_inner(), limits.max_tar_padding)
        .map_err(malformed)?
    {
        Ok(()) => Ok(members),
        Err(end) => Err(HeaderError::End(end)),
    }
}

struct HeaderInfo {
    payload_type: PayloadType,
    artifact_name: String,
    artifact_group: Option<String>,
    device_types: Vec<String>,
    depends_artifact_name: Vec<String>,
    depends_artifact_group: Vec<String>,
}

impl HeaderInfo {
    /// Spec §5.2: `payloads`, `artifact_provides`, `artifact_depends`; unknown keys refused (as
    /// the Go reader does), exactly one payload.
    fn parse(raw: &[u8]) -> Result<Self, HeaderError> {
        const MEMBER: &str = "header-info";
        let field = |problem| HeaderError::Field {
            member: MEMBER,
            problem,
        };
        let value = json::parse_unique(raw).map_err(|detail| HeaderError::Json {
            member: MEMBER,
            detail,
        })?;
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
                names::check_file_name(s, 255).map_err(|reason| HeaderError::BadPayloadType {
                    name: s.clone(),
                    reason,
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

struct TypeInfo {
    /// `None` for JSON null, `Some("")` for the legacy rootfs-image form.
    payload_type: Option<String>,
    provides: BTreeMap<String, String>,
    depends: BTreeMap<String, Vec<String>>,
    clears: Option<Vec<String>>,
}

impl TypeInfo {
    /// Spec §5.3. Provides values are strings; depends values are strings or string arrays
    /// (the Go client accepts both; we do too, and keep a string as a one-element list).
    fn parse(raw: &[u8]) -> Result<Self, HeaderError> {
        const MEMBER: &str = "headers/0000/type-info";
        let field = |problem| HeaderError::Field {
            member: MEMBER,
            problem,
        };
        let value = json::parse_unique(raw).map_err(|detail| HeaderError::Json {
            member: MEMBER,
            detail,
        })?;
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
fn original_entries(value: &Value) -> Vec<(&String, &Value)> {
    match value {
        Value::Object(map) => map.iter().collect(),
        _ => Vec::new(),
    }
}

/// Spec §5.3: type-info's type must equal header-info's, except the legacy `""` that
/// mender-artifact 3.0–4.3 writes for rootfs-image.
fn check_type_agreement(info: &PayloadType, type_info: &Option<String>) -> Result<(), HeaderError> {
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
