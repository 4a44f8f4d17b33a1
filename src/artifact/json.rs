//! Case-insensitive access to JSON objects from the header.
//!
//! Both Mender clients match JSON object keys case-insensitively (spec §5.2), so `Payloads` and
//! `payloads` are the same key. Two keys that differ only in case are ambiguous and refused.

use std::collections::BTreeMap;

use serde_json::Value;

/// A problem with one field of one header JSON member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path of the field, e.g. `artifact_depends.device_type`.
    pub field: String,
    /// What is wrong.
    pub problem: String,
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
