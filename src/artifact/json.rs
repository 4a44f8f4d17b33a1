//! Parsing the artifact's JSON members, and case-insensitive access to their objects.
//!
//! Both Mender clients match JSON object keys case-insensitively (spec §5.2), so `Payloads` and
//! `payloads` are the same key. Two keys that differ only in case are ambiguous and refused, and
//! so is the same key written twice ([`parse_unique`]): JSON parsers disagree on which of two
//! equal keys wins (Go's encoding/json and serde_json keep the last, others the first), and two
//! readers of one signed header must never see different values.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::error::escape::quoted;

/// Parses one JSON document like `serde_json::from_slice`, but refuses an object that holds the
/// same key twice. The message names the key and where the second one stands.
pub(crate) fn parse_unique(raw: &[u8]) -> Result<Value, String> {
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = UniqueKeys.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json would, refusing duplicate object keys on the way.
#[derive(Clone, Copy)]
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot spell NaN or infinity, so the conversion always succeeds here.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "key {} appears twice in one object",
                    quoted(&key)
                )));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// A problem with one field of one header JSON member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `artifact_depends.device_type`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

/// `field 'path' <problem>`, or `the document <problem>` for the top level.
impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() || self.field == "(top level)" {
            write!(f, "the document {}", self.problem)
        } else {
            write!(f, "field {} {}", quoted(&self.field), self.problem)
        }
    }
}

impl FieldProblem {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A JSON object with keys folded to lower case.
pub(crate) struct CiObject<'a> {
    path: String,
    fields: BTreeMap<String, &'a Value>,
}

impl<'a> CiObject<'a> {
    /// Views `value` (found at `path`) as an object.
    pub(crate) fn new(value: &'a Value, path: &str) -> Result<Self, FieldProblem> {
        let Value::Object(map) = value else {
            return Err(FieldProblem::new(path, "must be a JSON object"));
        };
        let mut fields = BTreeMap::new();
        for (key, v) in map {
            if fields.insert(key.to_lowercase(), v).is_some() {
                return Err(FieldProblem::new(
                    join(path, key),
                    "appears twice with different letter case",
                ));
            }
        }
        Ok(Self {
            path: path.to_owned(),
            fields,
        })
    }

    /// Refuses keys outside `allowed` (all lower case).
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), FieldProblem> {
        match self.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(unknown) => Err(FieldProblem::new(
                join(&self.path, unknown),
                "unknown field",
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.fields.get(key).copied()
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub(crate) fn required(&self, key: &str) -> Result<&'a Value, FieldProblem> {
        self.get(key)
            .ok_or_else(|| FieldProblem::new(self.path_of(key), "is required"))
    }

    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, FieldProblem> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(FieldProblem::new(self.path_of(key), "must be a string")),
        }
    }

    pub(crate) fn string_list(&self, key: &str) -> Result<Option<Vec<String>>, FieldProblem> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => string_list(v, &self.path_of(key)).map(Some),
        }
    }
}

/// A JSON array of strings.
pub(crate) fn string_list(value: &Value, path: &str) -> Result<Vec<String>, FieldProblem> {
    let Value::Array(items) = value else {
        return Err(FieldProblem::new(path, "must be an array of strings"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            _ => Err(FieldProblem::new(path, "must be an array of strings")),
        })
        .collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_duplicate_keys_are_refused_at_any_depth() {
        let top = parse_unique(br#"{"a":1,"a":2}"#).unwrap_err();
        assert!(
            top.starts_with("key 'a' appears twice in one object"),
            "{top}"
        );
        let nested = parse_unique(br#"{"x":[{"k":"v","k":"w"}]}"#).unwrap_err();
        assert!(nested.contains("key 'k' appears twice"), "{nested}");
        let escaped = parse_unique(b"{\"\\u001b\":1,\"\\u001b\":2}").unwrap_err();
        assert!(escaped.contains(r"key '\u{1b}' appears twice"), "{escaped}");
    }

    #[test]
    fn values_parse_as_serde_json_parses_them() {
        let raw = br#"{"a":[1,-2,3.5,true,null,"s"],"b":{"c":{}},"A":0}"#;
        let ours = parse_unique(raw).unwrap();
        let theirs: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(ours, theirs);
        assert!(parse_unique(b"{} x").is_err(), "trailing data");
        assert!(parse_unique(b"{").is_err(), "truncated");
    }
}
