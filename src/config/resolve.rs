//! What a command needs from the device's configuration: the signature policy, the install
//! context and the opened input. Shared by the command line and the daemon, so both read
//! mender.conf, the keys and the device type the same way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::mender_conf::{self, ConfigError, MenderConfig, MenderPaths};
use crate::install::bootenv::BootEnv;
use crate::install::context::InstallContext;
use crate::install::rootfs::RootfsLayout;
use crate::install::scripts::RetryPolicy;
use crate::keys::load::{self, BrokenKey};
use crate::signature::SignaturePolicy;
use crate::stream::limits::Limits;
use crate::stream::source::{Source, SourceError};

/// Why a command cannot get what it needs from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// mender.conf, a key, the device type or the settings file.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// The artifact source could not be opened.
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl crate::error::Classify for Error {
    fn class(&self) -> crate::error::Class {
        match self {
            Self::Config(e) => e.class(),
            Self::Source(e) => e.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Config(e) => e.code(),
            Self::Source(e) => e.code(),
        }
    }
}

/// Where verify keys come from: explicit keys (`-k`), else mender.conf (`config` replaces the
/// main file).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyOverrides<'a> {
    /// Keys given explicitly; when non-empty mender.conf's keys are not used.
    pub keys: &'a [PathBuf],
    /// A main mender.conf other than `$MENDER_CONF_DIR/mender.conf`.
    pub config: Option<&'a Path>,
}

/// The device facts and policy an install needs; a missing or malformed device_type file is a
/// configuration error (Mender 3 would continue without it).
pub fn install_context(
    paths: &MenderPaths,
    keys: &KeyOverrides<'_>,
    allow_unsigned: bool,
) -> Result<InstallContext, Error> {
    let conf = MenderConfig::load(paths, keys.config)?;
    let (signature, broken_keys) = signature_policy(paths, keys, allow_unsigned)?;
    let device_type = mender_conf::read_device_type(paths, &conf)?;
    let module_timeout = seconds_setting(&conf, "ModuleTimeoutSeconds", DEFAULT_MODULE_TIMEOUT)?;
    Ok(InstallContext {
        paths: paths.clone(),
        signature,
        broken_keys,
        device_type,
        module_timeout,
        script_timeout: seconds_setting(
            &conf,
            "StateScriptTimeoutSeconds",
            DEFAULT_SCRIPT_TIMEOUT,
        )?,
        script_retry: RetryPolicy {
            interval: seconds_setting(&conf, "StateScriptRetryIntervalSeconds", 60)?,
            timeout: seconds_setting(&conf, "StateScriptRetryTimeoutSeconds", 1800)?,
        },
        rootfs: rootfs_layout(&conf)?,
        bootenv: BootEnv::from_env(),
        limits: Limits::default(),
        observer: Default::default(),
    })
}

/// `RootfsPartA` and `RootfsPartB`, when both are set (the A/B installer is registered only
/// then, as in the Go client); one without the other is a configuration error.
pub fn rootfs_layout(conf: &MenderConfig) -> Result<Option<RootfsLayout>, Error> {
    let part = |key: &'static str| match conf.get(key) {
        None => Ok(None),
        Some((_, serde_json::Value::String(p))) if !p.is_empty() => Ok(Some(PathBuf::from(p))),
        Some((path, _)) => Err(ConfigError::WrongType {
            path: path.to_owned(),
            key,
            expected: "a non-empty device path",
        }),
    };
    match (part("RootfsPartA")?, part("RootfsPartB")?) {
        (Some(part_a), Some(part_b)) => Ok(Some(RootfsLayout { part_a, part_b })),
        (None, None) => Ok(None),
        (Some(_), None) | (None, Some(_)) => Err(ConfigError::WrongType {
            path: conf
                .get("RootfsPartA")
                .or(conf.get("RootfsPartB"))
                .map(|(p, _)| p.to_owned())
                .unwrap_or_default(),
            key: "RootfsPartA/RootfsPartB",
            expected: "both set, or neither",
        }
        .into()),
    }
}

/// A positive number of seconds from mender.conf, or `default`.
fn seconds_setting(
    conf: &MenderConfig,
    key: &'static str,
    default: u64,
) -> Result<Duration, Error> {
    match conf.get(key) {
        None => Ok(Duration::from_secs(default)),
        Some((path, v)) => v
            .as_u64()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| {
                ConfigError::WrongType {
                    path: path.to_owned(),
                    key,
                    expected: "a positive whole number of seconds",
                }
                .into()
            }),
    }
}

/// Mender's default `StateScriptTimeoutSeconds` (spec §9).
const DEFAULT_SCRIPT_TIMEOUT: u64 = 3_600;

/// Mender's default `ModuleTimeoutSeconds` (spec §9).
const DEFAULT_MODULE_TIMEOUT: u64 = 14_400;

/// Decides the signature policy: `-k` keys, else mender.conf keys; with none, refuse unless
/// unsigned artifacts were explicitly allowed. Also returns the mender.conf key entries that
/// cannot be used (the usable ones verify; with none usable it is an error). A `-k` key that
/// cannot be used is an error: the operator named it for this command.
pub fn signature_policy(
    paths: &MenderPaths,
    keys: &KeyOverrides<'_>,
    allow_unsigned: bool,
) -> Result<(SignaturePolicy, Vec<BrokenKey>), Error> {
    let (ring, broken) = if keys.keys.is_empty() {
        let conf = MenderConfig::load(paths, keys.config)?;
        let loaded = load::load_key_list(&conf.verify_key_paths()?)?;
        (loaded.ring, loaded.broken)
    } else {
        let key_paths: Vec<String> = keys.keys.iter().map(|p| p.display().to_string()).collect();
        (load::load_keys(&key_paths)?, Vec::new())
    };
    match ring {
        Some(ring) => Ok((SignaturePolicy::Required(ring), broken)),
        None if allow_unsigned => Ok((SignaturePolicy::DangerAllowUnsigned, broken)),
        None => {
            let conf = keys
                .config
                .map(std::path::Path::to_path_buf)
                .unwrap_or_else(|| paths.main_config())
                .display()
                .to_string();
            Err(ConfigError::NoKeys(conf).into())
        }
    }
}

/// Every mender.conf verify-key entry that cannot be used (for `status` and the daemon), or
/// the reason the list itself cannot be read.
pub fn broken_keys(paths: &MenderPaths, config: Option<&Path>) -> Vec<BrokenKey> {
    let listed = MenderConfig::load(paths, config).and_then(|conf| conf.verify_key_paths());
    match listed.and_then(|list| load::load_key_list(&list)) {
        Ok(loaded) => loaded.broken,
        Err(ConfigError::NoUsableKey(broken)) => broken,
        Err(e) => vec![BrokenKey {
            entry: "mender.conf".to_owned(),
            reason: e.to_string(),
        }],
    }
}

/// `check-config`: loads mender.conf, the settings and every key as every command does, and
/// fails on any problem, including a single verify-key entry that cannot be used (which other
/// commands only warn about). Returns what it checked, for the report.
pub fn check_config(
    paths: &MenderPaths,
    config: Option<&Path>,
    settings: Option<&Path>,
) -> Result<Vec<String>, Error> {
    let mut report = Vec::new();
    let conf = MenderConfig::load(paths, config)?;
    let entries = conf.verify_key_paths()?;
    let loaded = load::load_key_list(&entries)?;
    if !loaded.broken.is_empty() {
        return Err(ConfigError::BrokenKeys(loaded.broken).into());
    }
    if entries.is_empty() {
        return Err(ConfigError::NoKeys(
            config
                .map_or_else(|| paths.main_config(), Path::to_path_buf)
                .display()
                .to_string(),
        )
        .into());
    }
    report.push(format!(
        "verify keys: {} usable ({})",
        entries.len(),
        entries.join(", ")
    ));
    let ctx = install_context(paths, &KeyOverrides { keys: &[], config }, false)?;
    report.push(format!("device type: {}", ctx.device_type));
    report.push(match &ctx.rootfs {
        Some(layout) => format!(
            "A/B partitions: {} and {}",
            layout.part_a.display(),
            layout.part_b.display()
        ),
        None => "A/B partitions: not configured (rootfs-image updates are refused)".to_owned(),
    });
    crate::config::settings::DaemonConfig::load(settings)
        .map_err(|e| ConfigError::Settings(e.to_string()))?;
    report.push("settings: ok".to_owned());
    Ok(report)
}

/// Opens a file, `-` or an `https://` URL (trusting `ServerCertificate` from mender.conf).
pub fn open_input(
    paths: &MenderPaths,
    config: Option<&std::path::Path>,
    artifact: &std::path::Path,
) -> Result<Box<dyn Read + Send>, Error> {
    let source = Source::parse(artifact);
    let server_certificate = match &source {
        Source::Url(_) => match MenderConfig::load(paths, config)?.get("ServerCertificate") {
            Some((_, serde_json::Value::String(p))) if !p.is_empty() => Some(PathBuf::from(p)),
            Some((file, _)) => {
                return Err(ConfigError::WrongType {
                    path: file.to_owned(),
                    key: "ServerCertificate",
                    expected: "a certificate file path",
                }
                .into());
            }
            None => None,
        },
        _ => None,
    };
    Ok(source.open(server_certificate.as_deref())?)
}
