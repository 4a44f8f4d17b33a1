//! The daemon's own settings, in TOML (`/etc/artifact-gate/artifact-gate.toml`). Keys, partitions
//! and timeouts stay in mender.conf; this file says how the service is reached and what it may
//! do on its own. Unknown keys are errors: a misspelt setting must not silently fall back to a
//! default (issue #4).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::channel::ChannelConfig;
use crate::fetch::retry::DownloadPolicy;
use crate::stream::limits::Limits;

/// Where the file is looked for without `--config-file`.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/artifact-gate/artifact-gate.toml";
/// The settings file used when none is named: `$ARTIFACT_GATE_CONFIG`, else
/// [`DEFAULT_CONFIG_FILE`].
pub fn default_config_file() -> PathBuf {
    std::env::var_os("ARTIFACT_GATE_CONFIG")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE), PathBuf::from)
}

/// Where the API socket is created without `[api] socket`.
pub const DEFAULT_SOCKET: &str = "/run/artifact-gate/api.sock";

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The local API.
    pub api: ApiConfig,
    /// What the daemon does with installs on its own.
    pub update: UpdateConfig,
    /// The boot environment, when not the system default.
    pub boot: BootConfig,
    /// Resource limits (`[limits]`).
    pub limits: Limits,
    /// How downloads retry, time out and pace themselves (`[download]`).
    pub download: DownloadPolicy,
    /// An update channel the daemon polls (`[channel]`).
    pub channel: Option<ChannelConfig>,
    /// The Mender server agent's own settings (`[server]`; the server itself is mender.conf's
    /// `ServerURL`).
    pub server: crate::server::settings::ServerTable,
    /// Trust policy beyond the signature (`[policy]`, issue #16).
    pub policy: PolicyTable,
}

/// `[policy]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyTable {
    /// Verify keys whose signatures are refused although mender.conf may still list them:
    /// `sha256:<hex>` of the key's SubjectPublicKeyInfo DER, as `read` prints it.
    pub revoked_keys: Vec<String>,
    /// What each restricted key may sign (`[[policy.key]]`).
    pub key: Vec<crate::signature::KeyScope>,
    /// The provides key holding the release version; when set, a lower version than the
    /// highest one committed is refused (`rootfs-image.version`, say).
    pub version_provide: Option<String>,
    /// How `version_provide` values are ordered: `semver`, `debian` or `integer`.
    pub version_scheme: crate::policy::version::VersionScheme,
    /// An integer provides key holding the security version; when set, a lower one than the
    /// floor is refused, with no override.
    pub security_version_provide: Option<String>,
    /// Where the security floor is kept: `file` (the data partition) or `tpm-nv:<index>` (a
    /// TPM 2.0 NV counter, which only counts up).
    pub floor_store: String,
    /// The TCTI tpm2-tools use for `tpm-nv:` (`device:/dev/tpmrm0`, say); their default when
    /// unset.
    pub floor_tcti: Option<String>,
}

impl Default for PolicyTable {
    fn default() -> Self {
        Self {
            revoked_keys: Vec::new(),
            key: Vec::new(),
            version_provide: None,
            version_scheme: Default::default(),
            security_version_provide: None,
            floor_store: "file".to_owned(),
            floor_tcti: None,
        }
    }
}

impl PolicyTable {
    /// The floors as configured, and where the security floor is kept.
    pub fn floors(
        &self,
    ) -> Result<
        (
            crate::policy::floor::FloorPolicy,
            crate::state::floor::FloorStore,
        ),
        (&'static str, String),
    > {
        let nonempty = |key: &'static str, value: &Option<String>| match value {
            Some(v) if v.trim().is_empty() => Err((key, "is empty".to_owned())),
            other => Ok(other.clone()),
        };
        let policy = crate::policy::floor::FloorPolicy {
            version: nonempty("policy.version_provide", &self.version_provide)?.map(|provide| {
                crate::policy::floor::VersionRule {
                    provide,
                    scheme: self.version_scheme,
                }
            }),
            security_provide: nonempty(
                "policy.security_version_provide",
                &self.security_version_provide,
            )?,
        };
        let store =
            crate::state::floor::FloorStore::parse(&self.floor_store, self.floor_tcti.as_deref())
                .map_err(|e| ("policy.floor_store", e))?;
        if store != crate::state::floor::FloorStore::File && policy.security_provide.is_none() {
            return Err((
                "policy.floor_store",
                "a TPM counter keeps the security floor, but security_version_provide is not set"
                    .to_owned(),
            ));
        }
        Ok((policy, store))
    }

    /// The revoked fingerprints; an entry that is not `sha256:` and 64 hex digits is an error.
    pub fn revoked(&self) -> Result<Vec<crate::stream::Sha256Digest>, String> {
        self.revoked_keys
            .iter()
            .map(|entry| {
                entry
                    .strip_prefix("sha256:")
                    .ok_or_else(|| format!("{entry:?} does not start with sha256:"))
                    .and_then(crate::stream::parse_sha256_hex)
            })
            .collect()
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The Unix socket (ignored under socket activation, where systemd made it).
    pub socket: PathBuf,
    /// Its permission bits, octal as a string ("0660").
    pub socket_mode: String,
    /// The group that may install, commit and roll back besides root; it also owns the socket.
    pub install_group: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            socket_mode: "0660".to_owned(),
            install_group: None,
        }
    }
}

/// `[update]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// Commit on its own: right after an install that needs no reboot, and after the reboot
    /// into a verified update. `false` waits for `POST /v1/commit`.
    pub auto_commit: bool,
    /// Run `reboot_command` after an install that needs a reboot, and after an update whose
    /// commit failed at boot was rolled back. `false` leaves the reboot to the caller (the
    /// result says one is needed).
    pub reboot_after_install: bool,
    /// The reboot command.
    pub reboot_command: Vec<String>,
    /// At the first start, install an unsigned `<datastore>/bootstrap.mender` although verify
    /// keys are configured, provided its payload is empty (provides only). Off by default: a
    /// bootstrap artifact then verifies like any other.
    pub accept_unsigned_bootstrap: bool,
    /// How payload files reach an Update Module: `stream` (as they arrive, as Mender does) or
    /// `spool` (each written to `spool_dir` and handed on only once its hash matched).
    pub module_delivery: ModuleDelivery,
    /// Where spooled payload files wait (default `<datastore>/artifact-gate/spool`).
    pub spool_dir: Option<PathBuf>,
    /// The largest payload file the spool takes, in bytes.
    pub max_spool_bytes: u64,
}

/// `[update] module_delivery`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModuleDelivery {
    /// Bytes reach the module as they arrive; its stream keeps each file's end until the hash
    /// matched.
    #[default]
    Stream,
    /// Each file is verified in the spool first.
    Spool,
}

impl UpdateConfig {
    /// The spool an install uses, when `module_delivery = "spool"`.
    pub fn spool(&self, datastore: &Path) -> Option<crate::install::spool::SpoolSettings> {
        (self.module_delivery == ModuleDelivery::Spool).then(|| {
            crate::install::spool::SpoolSettings {
                dir: self
                    .spool_dir
                    .clone()
                    .unwrap_or_else(|| datastore.join("artifact-gate/spool")),
                max_bytes: self.max_spool_bytes,
            }
        })
    }
}

impl Default for UpdateConfig {
    fn default() -> Self {
        Self {
            auto_commit: true,
            reboot_after_install: false,
            reboot_command: vec!["systemctl".to_owned(), "reboot".to_owned()],
            accept_unsigned_bootstrap: false,
            module_delivery: ModuleDelivery::Stream,
            spool_dir: None,
            max_spool_bytes: DEFAULT_MAX_SPOOL_BYTES,
        }
    }
}

/// `[update] max_spool_bytes` when unset: 1 GiB.
pub const DEFAULT_MAX_SPOOL_BYTES: u64 = 1 << 30;

/// `[boot]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BootConfig {
    /// A `fw_env.config` other than `/etc/fw_env.config` (U-Boot).
    pub fw_env_config: Option<PathBuf>,
    /// A grub-mender-grubenv directory other than the one found by the usual search (GRUB).
    pub grubenv_dir: Option<PathBuf>,
}

/// Sets one limit from `KEY=VALUE` (a `--limit` argument), `KEY` as in `[limits]`. The value is
/// a whole number, optionally with a `KiB`, `MiB` or `GiB` suffix.
pub fn set_limit(limits: &mut Limits, arg: &str) -> Result<(), String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err("expected KEY=VALUE".to_owned());
    };
    let value = parse_amount(value.trim())?;
    let value = i64::try_from(value).map_err(|_| "too large".to_owned())?;
    // Through serde, so the keys and their types are those of `[limits]`, spelled once.
    let mut table = match toml::Value::try_from(&*limits) {
        Ok(toml::Value::Table(table)) => table,
        _ => return Err("the current limits cannot be edited".to_owned()),
    };
    table.insert(key.trim().to_owned(), toml::Value::Integer(value));
    *limits = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string().trim_end().to_owned())?;
    Ok(())
}

/// `123`, `64KiB`, `16MiB`, `2GiB`.
fn parse_amount(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let scale: u64 = match unit.trim() {
        "" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit '{other}' (use KiB, MiB or GiB)")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("'{text}' is not a whole number of bytes or files"))
}

/// The file cannot be used.
#[derive(Debug, Error)]
pub enum DaemonConfigError {
    /// Unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, a wrong type or an unknown key.
    #[error("{path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names the key and line).
        detail: String,
    },
    /// A value that parses but cannot be used.
    #[error("{path}: {key}: {detail}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// Why.
        detail: String,
    },
}

impl DaemonConfig {
    /// Reads `path`; a missing file gives the defaults only when it is the default path (a
    /// file named with `--config-file` must exist).
    pub fn load(path: Option<&Path>) -> Result<Self, DaemonConfigError> {
        let (path, explicit) = match path {
            Some(p) => (p.to_owned(), true),
            None => (default_config_file(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Self::default());
            }
            Err(source) => return Err(DaemonConfigError::Read { path, source }),
        };
        let config = Self::parse(&text).map_err(|detail| DaemonConfigError::Parse {
            path: path.clone(),
            detail,
        })?;
        config
            .socket_mode()
            .map_err(|detail| DaemonConfigError::Value {
                path: path.clone(),
                key: "api.socket_mode",
                detail,
            })?;
        if config.limits.upload_stall_seconds == 0 {
            return Err(DaemonConfigError::Value {
                path,
                key: "limits.upload_stall_seconds",
                detail: "must be at least 1".to_owned(),
            });
        }
        if let Some(Err((key, detail))) = config.channel.as_ref().map(ChannelConfig::check) {
            return Err(DaemonConfigError::Value { path, key, detail });
        }
        if let Err((key, detail)) = config.policy.floors() {
            return Err(DaemonConfigError::Value { path, key, detail });
        }
        if let Err(detail) = config.policy.revoked() {
            return Err(DaemonConfigError::Value {
                path,
                key: "policy.revoked_keys",
                detail,
            });
        }
        if let Err((key, detail)) = config.download.check() {
            return Err(DaemonConfigError::Value {
                path,
                key,
                detail: detail.to_owned(),
            });
        }
        if config.update.reboot_after_install && config.update.reboot_command.is_empty() {
            return Err(DaemonConfigError::Value {
                path,
                key: "update.reboot_command",
                detail: "empty, but reboot_after_install is true".to_owned(),
            });
        }
        Ok(config)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// `api.socket_mode` as permission bits.
    pub fn socket_mode(&self) -> Result<u32, String> {
        let text = self.api.socket_mode.trim_start_matches("0o");
        u32::from_str_radix(text, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                format!(
                    "'{}' is not an octal mode like \"0660\"",
                    self.api.socket_mode
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_deserialise_straight_from_the_table_and_internal_caps_stay_fixed() {
        let c = DaemonConfig::parse("[limits]\nmax_artifact_bytes = 1024\nmax_connections = 2\n")
            .unwrap();
        assert_eq!(c.limits.max_artifact_bytes, 1024);
        assert_eq!(c.limits.max_connections, 2);
        assert_eq!(
            c.limits.max_header_bytes,
            Limits::default().max_header_bytes
        );
        // A cap that is not configurable is not a key of [limits].
        let e = DaemonConfig::parse("[limits]\nmax_version = 1\n").unwrap_err();
        assert!(e.contains("unknown field `max_version`"), "{e}");
    }

    #[test]
    fn a_limit_override_uses_the_same_keys_and_units() {
        let mut limits = Limits::default();
        set_limit(&mut limits, "max_header_bytes=2MiB").unwrap();
        set_limit(&mut limits, " max_payload_files = 7 ").unwrap();
        assert_eq!(limits.max_header_bytes, 2 << 20);
        assert_eq!(limits.max_payload_files, 7);
        assert_eq!(
            limits.max_artifact_bytes,
            Limits::default().max_artifact_bytes
        );
        let e = set_limit(&mut limits, "max_bogus=1").unwrap_err();
        assert!(e.contains("unknown field `max_bogus`"), "{e}");
        assert!(set_limit(&mut limits, "max_header_bytes").is_err());
        assert!(set_limit(&mut limits, "max_header_bytes=1TB").is_err());
    }

    #[test]
    fn an_empty_file_gives_safe_defaults() {
        let c = DaemonConfig::parse("").unwrap();
        assert_eq!(c.api.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(c.socket_mode(), Ok(0o660));
        assert!(c.update.auto_commit);
        assert!(!c.update.reboot_after_install);
        assert_eq!(c.api.install_group, None);
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let e = DaemonConfig::parse("[api]\nsockett = \"/x\"\n").unwrap_err();
        assert!(e.contains("unknown field `sockett`"), "{e}");
        let e = DaemonConfig::parse("[update]\nauto_commit = \"yes\"\n").unwrap_err();
        assert!(
            e.contains("auto_commit") || e.contains("invalid type"),
            "{e}"
        );
        let e = DaemonConfig::parse("[nonsense]\n").unwrap_err();
        assert!(e.contains("unknown field `nonsense`"), "{e}");
    }

    #[test]
    fn the_shipped_example_parses_and_states_the_defaults() {
        let text = include_str!("../../conf/artifact-gate.toml.example");
        let example = DaemonConfig::parse(text).unwrap();
        assert_eq!(
            example,
            DaemonConfig::default(),
            "the example must show the defaults"
        );
        // Every key in the example is commented out; uncommenting them all must parse too.
        let uncommented: String = text
            .lines()
            .map(|l| {
                // Keys, and the headers of tables that are off by default (`# [channel]`).
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = ") || r.starts_with('['))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        DaemonConfig::parse(&uncommented).unwrap();
    }

    #[test]
    fn a_bad_socket_mode_is_refused() {
        let c = DaemonConfig::parse("[api]\nsocket_mode = \"rw\"\n").unwrap();
        assert!(c.socket_mode().is_err());
        let c = DaemonConfig::parse("[api]\nsocket_mode = \"01777\"\n").unwrap();
        assert!(c.socket_mode().is_err());
    }
}
