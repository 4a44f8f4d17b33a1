//! Mender's configuration as it concerns verification: where the files are, how they merge, and
//! which verify keys they name.
//!
//! Spec §9: `<datastore>/mender.conf` (fallback) is read first, then `<conf dir>/mender.conf`
//! (main), the main file overriding per key; keys are matched case-insensitively;
//! `MENDER_CONF_DIR`, `MENDER_DATASTORE_DIR` and `MENDER_DATA_DIR` relocate the directories.
//! Unlike the C++ client, which ignores a default file it cannot parse (and with it the verify
//! keys), every problem here is an error: a broken configuration never turns verification off.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

use crate::keys::load::BrokenKey;
use crate::keys::uri::UriError;
use crate::signature::KeyError;

/// Mender's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenderPaths {
    /// `/etc/mender` or `$MENDER_CONF_DIR`.
    pub conf_dir: PathBuf,
    /// `/var/lib/mender` or `$MENDER_DATASTORE_DIR`.
    pub datastore_dir: PathBuf,
    /// `/usr/share/mender` or `$MENDER_DATA_DIR`.
    pub data_dir: PathBuf,
}

impl MenderPaths {
    /// The directories, honouring Mender's environment variables.
    pub fn from_env() -> Self {
        let dir = |var: &str, default: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map_or_else(|| PathBuf::from(default), PathBuf::from)
        };
        Self {
            conf_dir: dir("MENDER_CONF_DIR", "/etc/mender"),
            datastore_dir: dir("MENDER_DATASTORE_DIR", "/var/lib/mender"),
            data_dir: dir("MENDER_DATA_DIR", "/usr/share/mender"),
        }
    }

    /// The main configuration file.
    pub fn main_config(&self) -> PathBuf {
        self.conf_dir.join("mender.conf")
    }

    /// The fallback configuration file.
    pub fn fallback_config(&self) -> PathBuf {
        self.datastore_dir.join("mender.conf")
    }
}

/// A configuration problem (exit code 2).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A configuration file exists but cannot be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A configuration file is not valid JSON.
    #[error("configuration file {path} is not valid JSON: {detail}")]
    Json {
        /// File.
        path: PathBuf,
        /// Parser message.
        detail: String,
    },
    /// A configuration file is not a JSON object.
    #[error("configuration file {path} must hold a JSON object")]
    NotObject {
        /// File.
        path: PathBuf,
    },
    /// Two keys differing only in case.
    #[error("configuration file {path}: key '{key}' appears twice (keys are case-insensitive)")]
    DuplicateKey {
        /// File.
        path: PathBuf,
        /// Key.
        key: String,
    },
    /// A value of the wrong JSON type.
    #[error("configuration file {path}: '{key}' must be {expected}")]
    WrongType {
        /// File.
        path: PathBuf,
        /// Key.
        key: &'static str,
        /// Expected shape.
        expected: &'static str,
    },
    /// Both key options are set.
    #[error(
        "both ArtifactVerifyKey (in {single}) and ArtifactVerifyKeys (in {list}) are set; \
         use only one"
    )]
    BothKeyOptions {
        /// Where the single key is set.
        single: PathBuf,
        /// Where the list is set.
        list: PathBuf,
    },
    /// The explicitly named configuration file does not exist.
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    /// A verify key file cannot be read.
    #[error("cannot read verify key {path}: {source}")]
    KeyRead {
        /// Key path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A verify key file cannot be used.
    #[error("verify key {path}: {source}")]
    Key {
        /// Key path.
        path: String,
        /// Cause.
        source: KeyError,
    },
    /// A `pkcs11:` key URI that does not parse.
    #[error("verify key URI {uri}…: {source}")]
    KeyUri {
        /// The start of the URI (no attributes, which may hold a PIN).
        uri: String,
        /// Why.
        source: UriError,
    },
    /// A `pkcs11:` key that cannot be opened in its token.
    #[cfg(feature = "pkcs11")]
    #[error("verify key {uri}: {source}")]
    Token {
        /// The URI, PIN hidden.
        uri: String,
        /// Why.
        source: crate::keys::token::TokenError,
    },
    /// Keys are configured, but not one of them can be used (fail closed: verification is
    /// never turned off by a broken key list).
    #[error(
        "none of the {} configured verify keys can be used: {}",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    NoUsableKey(Vec<BrokenKey>),
    /// `check-config`: some configured verify keys cannot be used.
    #[error(
        "{} of the configured verify keys cannot be used: {}",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    BrokenKeys(Vec<BrokenKey>),
    /// No key is configured and unsigned artifacts were not explicitly allowed.
    #[error(
        "no verification key configured (give -k/--key, or set ArtifactVerifyKey or \
         ArtifactVerifyKeys in {0}); to check checksums of unsigned artifacts only, pass \
         --allow-unsigned"
    )]
    NoKeys(String),
    /// A `device_type` file problem.
    #[error("device type file {path}: {problem}")]
    DeviceType {
        /// File.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The settings file (`artifact-gate.toml`, whose `[limits]` the command line applies too)
    /// cannot be used.
    #[error("{0}")]
    Settings(String),
    /// A `--limit` argument is not `KEY=VALUE` with a known key and a number.
    #[error("--limit {arg}: {detail}")]
    Limit {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        detail: String,
    },
}

/// Merged mender.conf values: lower-cased key → (file it came from, value).
#[derive(Debug, Clone, Default)]
pub struct MenderConfig {
    values: BTreeMap<String, (PathBuf, Value)>,
}

impl MenderConfig {
    /// Loads the fallback file, then `main` (or the default main file), main overriding per key.
    /// Missing default files are skipped; a missing explicit file is an error.
    pub fn load(paths: &MenderPaths, explicit_main: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.merge_file(&paths.fallback_config(), false)?;
        match explicit_main {
            Some(path) => config.merge_file(path, true)?,
            None => config.merge_file(&paths.main_config(), false)?,
        }
        Ok(config)
    }

    /// Value of `key` (case-insensitive) with the file that set it.
    pub fn get(&self, key: &str) -> Option<(&Path, &Value)> {
        self.values
            .get(&key.to_lowercase())
            .map(|(p, v)| (p.as_path(), v))
    }

    /// The verify-key paths from `ArtifactVerifyKey` / `ArtifactVerifyKeys` (spec §7.1).
    pub fn verify_key_paths(&self) -> Result<Vec<String>, ConfigError> {
        let single = self.get("ArtifactVerifyKey");
        let list = self.get("ArtifactVerifyKeys");
        match (single, list) {
            (Some((s, _)), Some((l, _))) => Err(ConfigError::BothKeyOptions {
                single: s.to_owned(),
                list: l.to_owned(),
            }),
            (Some((path, Value::String(key))), None) => {
                non_empty(path, "ArtifactVerifyKey", key).map(|k| vec![k])
            }
            (Some((path, _)), None) => Err(ConfigError::WrongType {
                path: path.to_owned(),
                key: "ArtifactVerifyKey",
                expected: "a string (a key file path)",
            }),
            (None, Some((path, Value::Array(items)))) => {
                let mut keys: Vec<String> = Vec::new();
                for item in items {
                    let Value::String(key) = item else {
                        return Err(ConfigError::WrongType {
                            path: path.to_owned(),
                            key: "ArtifactVerifyKeys",
                            expected: "an array of strings (key file paths)",
                        });
                    };
                    let key = non_empty(path, "ArtifactVerifyKeys", key)?;
                    // Duplicates add nothing; order is kept (spec §7.1).
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                Ok(keys)
            }
            (None, Some((path, _))) => Err(ConfigError::WrongType {
                path: path.to_owned(),
                key: "ArtifactVerifyKeys",
                expected: "an array of strings (key file paths)",
            }),
            (None, None) => Ok(Vec::new()),
        }
    }

    fn merge_file(&mut self, path: &Path, required: bool) -> Result<(), ConfigError> {
        let text = match read_small_file(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let value: Value = serde_json::from_slice(&text).map_err(|e| ConfigError::Json {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(ConfigError::NotObject {
                path: path.to_owned(),
            });
        };
        let mut this_file: BTreeMap<String, (PathBuf, Value)> = BTreeMap::new();
        for (key, v) in map {
            let lower = key.to_lowercase();
            if this_file.insert(lower, (path.to_owned(), v)).is_some() {
                return Err(ConfigError::DuplicateKey {
                    path: path.to_owned(),
                    key,
                });
            }
        }
        self.values.extend(this_file);
        Ok(())
    }
}

fn non_empty(path: &Path, key: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::WrongType {
            path: path.to_owned(),
            key,
            expected: "a non-empty key file path",
        });
    }
    Ok(value.to_owned())
}

/// Reads the device type: `DeviceTypeFile` from mender.conf, else `<datastore>/device_type`.
///
/// Spec §7.4 (C++ rules): the first line is `device_type=<value>`, optionally followed by one
/// empty line; the value must not be empty. Anything else is an error — Mender 3 continues
/// with an unknown device type here, we do not.
pub fn read_device_type(paths: &MenderPaths, config: &MenderConfig) -> Result<String, ConfigError> {
    let path = match config.get("DeviceTypeFile") {
        Some((_, Value::String(p))) if !p.is_empty() => PathBuf::from(p),
        Some((file, _)) => {
            return Err(ConfigError::WrongType {
                path: file.to_owned(),
                key: "DeviceTypeFile",
                expected: "a non-empty string",
            });
        }
        None => paths.datastore_dir.join("device_type"),
    };
    let text = read_small_file(&path)
        .and_then(|b| {
            String::from_utf8(b)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .map_err(|e| ConfigError::DeviceType {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    parse_device_type(&text).map_err(|problem| ConfigError::DeviceType {
        path,
        problem: problem.to_owned(),
    })
}

/// Reads a configuration, key or device-type file, refusing anything over [`MAX_SMALL_FILE`]
/// (a path pointing at a device or a FIFO must not make us read forever).
pub(crate) fn read_small_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_SMALL_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {MAX_SMALL_FILE} bytes"),
        ));
    }
    Ok(bytes)
}

/// Largest configuration, key or device-type file read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

/// Parses the `device_type` file's text.
pub fn parse_device_type(text: &str) -> Result<String, &'static str> {
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let value = first
        .strip_prefix("device_type=")
        .ok_or("first line must be 'device_type=<type>'")?;
    if value.is_empty() {
        return Err("device type is empty");
    }
    match (lines.next(), lines.next()) {
        (None, _) | (Some(""), None) => Ok(value.to_owned()),
        _ => Err("trailing data after the device_type line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &Path) -> MenderPaths {
        MenderPaths {
            conf_dir: dir.join("etc"),
            datastore_dir: dir.join("var"),
            data_dir: dir.join("share"),
        }
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn main_overrides_fallback_per_key_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(
            &p.fallback_config(),
            r#"{"artifactverifykey":"/a.pem","RootfsPartA":"/dev/x"}"#,
        );
        write(&p.main_config(), r#"{"ArtifactVerifyKey":"/b.pem"}"#);
        let c = MenderConfig::load(&p, None).unwrap();
        assert_eq!(c.verify_key_paths().unwrap(), ["/b.pem"]);
        assert!(c.get("rootfsparta").is_some());
    }

    #[test]
    fn fail_closed_configurations() {
        let dir = tempfile::tempdir().unwrap();
        let p = paths(dir.path());
        write(
            &p.main_config(),
            r#"{"ArtifactVerifyKey":"/a","ArtifactVerifyKeys":["/b"]}"#,
        );
        let err = MenderConfig::load(&p, None)
            .unwrap()
            .verify_key_paths()
            .unwrap_err();
        assert!(matches!(err, ConfigError::BothKeyOptions { .. }), "{err}");

        write(&p.main_config(), r#"{"ArtifactVerifyKeys":"/b"}"#);
        let err = MenderConfig::load(&p, None)
            .unwrap()
            .verify_key_paths()
            .unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::WrongType {
                    key: "ArtifactVerifyKeys",
                    ..
                }
            ),
            "{err}"
        );

        write(&p.main_config(), r#"{"ArtifactVerifyKey":"/a",}"#);
        assert!(matches!(
            MenderConfig::load(&p, None),
            Err(ConfigError::Json { .. })
        ));

        write(
            &p.main_config(),
            r#"{"ArtifactVerifyKey":"/a","artifactVerifyKey":"/b"}"#,
        );
        assert!(matches!(
            MenderConfig::load(&p, None),
            Err(ConfigError::DuplicateKey { .. })
        ));

        assert!(matches!(
            MenderConfig::load(&p, Some(&dir.path().join("nope.conf"))),
            Err(ConfigError::Missing(_))
        ));
    }

    #[test]
    fn device_type_file_rules() {
        assert_eq!(
            parse_device_type("device_type=beaglebone\n"),
            Ok("beaglebone".into())
        );
        assert_eq!(parse_device_type("device_type=bb"), Ok("bb".into()));
        assert!(parse_device_type("device_type=\n").is_err());
        assert!(parse_device_type("  device_type = bb\n").is_err());
        assert!(parse_device_type("device_type=bb\nfoo=bar\n").is_err());
        assert!(parse_device_type("").is_err());
    }
}
