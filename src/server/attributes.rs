//! The device as the server sees it: the identity (`<data dir>/identity/mender-device-identity`)
//! and the inventory (`<data dir>/inventory/mender-inventory-*`), both from scripts that print
//! `key=value` lines, as Mender's do. A key printed more than once has a list of values.
//!
//! The identity is what the device authenticates with, so a missing, failing or empty identity
//! script is an error. An inventory script that fails is skipped with a warning (the others
//! still report), as in the Go client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::ServerError;
use crate::install::process::{Ran, run};
use crate::state::provides::Provides;

/// How long one script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// `key → values`, in key order.
pub type Attributes = BTreeMap<String, Vec<String>>;

/// Parses `key=value` lines; blank lines are skipped, anything else is an error (line number
/// given).
pub fn parse_lines(text: &str) -> Result<Attributes, String> {
    let mut attributes = Attributes::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => attributes
                .entry(key.trim().to_owned())
                .or_default()
                .push(value.to_owned()),
            _ => {
                return Err(format!(
                    "line {}: {} is not key=value",
                    n + 1,
                    crate::error::escape::quoted(line)
                ));
            }
        }
    }
    Ok(attributes)
}

/// Runs `script` and parses what it prints.
fn run_script(script: &Path) -> Result<Attributes, String> {
    match run(&mut Command::new(script), SCRIPT_TIMEOUT) {
        Err(e) => Err(format!("cannot run it: {e}")),
        Ok(Ran::TimedOut) => Err(format!("ran over {} s", SCRIPT_TIMEOUT.as_secs())),
        Ok(Ran::Exited {
            success: false,
            code,
            stderr,
            ..
        }) => Err(format!(
            "exited with {code}: {}",
            crate::install::process::tail(&stderr)
        )),
        Ok(Ran::Exited { stdout, .. }) => parse_lines(&String::from_utf8_lossy(&stdout)),
    }
}

/// The identity as the auth request carries it: a JSON object (keys sorted), each value a
/// string, or a list where the script printed the key more than once.
pub fn identity(data_dir: &Path) -> Result<String, ServerError> {
    let script = data_dir.join("identity/mender-device-identity");
    let attributes = run_script(&script).map_err(|detail| ServerError::Identity {
        script: script.clone(),
        detail,
    })?;
    if attributes.is_empty() {
        return Err(ServerError::Identity {
            script,
            detail: "it printed no key=value line".to_owned(),
        });
    }
    let object: BTreeMap<&String, serde_json::Value> = attributes
        .iter()
        .map(|(k, v)| (k, one_or_many(v)))
        .collect();
    serde_json::to_string(&object).map_err(|e| ServerError::Identity {
        script,
        detail: e.to_string(),
    })
}

fn one_or_many(values: &[String]) -> serde_json::Value {
    match values {
        [one] => serde_json::Value::String(one.clone()),
        many => serde_json::Value::from(many.to_vec()),
    }
}

/// One inventory attribute as the inventory API takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// A string, or a list of strings.
    pub value: serde_json::Value,
}

/// The inventory scripts in `data_dir/inventory`, in name order.
fn inventory_scripts(data_dir: &Path) -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(data_dir.join("inventory"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("mender-inventory-"))
                })
                .collect()
        })
        .unwrap_or_default();
    scripts.sort();
    scripts
}

/// The inventory: every script's attributes, then what the device itself knows (these win:
/// a script cannot misreport the installed artifact).
pub fn inventory(data_dir: &Path, device_type: &str, provides: &Provides) -> Vec<Attribute> {
    let mut all = Attributes::new();
    for script in inventory_scripts(data_dir) {
        match run_script(&script) {
            Ok(found) => {
                for (k, mut v) in found {
                    all.entry(k).or_default().append(&mut v);
                }
            }
            Err(detail) => tracing::warn!("inventory script {}: {detail}", script.display()),
        }
    }
    let mut own = Attributes::new();
    own.insert("device_type".to_owned(), vec![device_type.to_owned()]);
    own.insert(
        "artifact_name".to_owned(),
        vec![
            provides
                .artifact_name
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
        ],
    );
    if let Some(group) = &provides.artifact_group {
        own.insert("artifact_group".to_owned(), vec![group.clone()]);
    }
    for (k, v) in &provides.values {
        own.insert(k.clone(), vec![v.clone()]);
    }
    own.insert(
        "artifact_gate_version".to_owned(),
        vec![env!("CARGO_PKG_VERSION").to_owned()],
    );
    all.extend(own);
    all.iter()
        .map(|(name, values)| Attribute {
            name: name.clone(),
            value: one_or_many(values),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn script(dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn lines_are_key_value_and_repeated_keys_collect() {
        let a = parse_lines("mac=00:11\nmac=00:22\n\nserial=a=b\n").unwrap();
        assert_eq!(a["mac"], ["00:11", "00:22"]);
        assert_eq!(a["serial"], ["a=b"]);
        let e = parse_lines("mac=1\nnonsense\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("nonsense"), "{e}");
    }

    #[test]
    fn identity_is_a_sorted_json_object_and_a_broken_script_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "identity/mender-device-identity",
            "echo serial=42; echo mac=aa; echo mac=bb",
        );
        assert_eq!(
            identity(dir.path()).unwrap(),
            r#"{"mac":["aa","bb"],"serial":"42"}"#
        );
        script(
            dir.path(),
            "identity/mender-device-identity",
            "echo oops >&2; exit 3",
        );
        let e = identity(dir.path()).unwrap_err().to_string();
        assert!(e.contains("exited with 3") && e.contains("oops"), "{e}");
        script(dir.path(), "identity/mender-device-identity", "true");
        let e = identity(dir.path()).unwrap_err().to_string();
        assert!(e.contains("no key=value"), "{e}");
    }

    #[test]
    fn inventory_merges_scripts_and_the_device_has_the_last_word() {
        let dir = tempfile::tempdir().unwrap();
        script(
            dir.path(),
            "inventory/mender-inventory-os",
            "echo os=Debian; echo artifact_name=lie",
        );
        script(dir.path(), "inventory/mender-inventory-broken", "exit 1");
        script(dir.path(), "inventory/other-script", "echo ignored=yes");
        let provides = Provides {
            artifact_name: Some("release-1".to_owned()),
            artifact_group: None,
            values: [("rootfs-image.version".to_owned(), "1".to_owned())].into(),
        };
        let inv = inventory(dir.path(), "beaglebone", &provides);
        let get = |n: &str| inv.iter().find(|a| a.name == n).map(|a| a.value.clone());
        assert_eq!(get("os"), Some("Debian".into()));
        assert_eq!(get("artifact_name"), Some("release-1".into()));
        assert_eq!(get("device_type"), Some("beaglebone".into()));
        assert_eq!(get("rootfs-image.version"), Some("1".into()));
        assert_eq!(get("ignored"), None);
        assert!(get("artifact_gate_version").is_some());
    }
}
