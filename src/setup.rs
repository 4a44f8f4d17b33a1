//! What a command needs from the device's configuration: the signature policy, the install
//! context and the opened input. Shared by the command line and the daemon, so both read
//! mender.conf, the keys and the device type the same way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{self, ConfigError, MenderConfig, MenderPaths};
use crate::error::Error;
use crate::install::bootenv::BootEnv;
use crate::install::rootfs::RootfsLayout;
use crate::install::scripts::RetryPolicy;
use crate::install::standalone::InstallContext;
use crate::limits::Limits;
use crate::signature::SignaturePolicy;
use crate::source::Source;

/// Where verify keys come from: explicit keys (`-k`), else mender.conf (`config` replaces the
/// main file).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySource<'a> {
    /// Keys given explicitly; when non-empty mender.conf's keys are not used.
    pub keys: &'a [PathBuf],
    /// A main mender.conf other than `$MENDER_CONF_DIR/mender.conf`.
    pub config: Option<&'a Path>,
}

/// The device facts and policy an install needs; a missing or malformed device_type file is a
/// configuration error (Mender 3 would continue without it).
pub fn install_context(
    paths: &MenderPaths,
    keys: &KeySource<'_>,
    allow_unsigned: bool,
) -> Result<InstallContext, Error> {
    let conf = MenderConfig::load(paths, keys.config)?;
    let signature = signature_policy(paths, keys, allow_unsigned)?;
    let device_type = config::read_device_type(paths, &conf)?;
    let module_timeout = seconds_setting(&conf, "ModuleTimeoutSeconds", DEFAULT_MODULE_TIMEOUT)?;
    Ok(InstallContext {
        paths: paths.clone(),
        signature,
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
/// unsigned artifacts were explicitly allowed.
pub fn signature_policy(
    paths: &MenderPaths,
    keys: &KeySource<'_>,
    allow_unsigned: bool,
) -> Result<SignaturePolicy, Error> {
    let key_paths: Vec<String> = if keys.keys.is_empty() {
        let conf = MenderConfig::load(paths, keys.config)?;
        conf.verify_key_paths()?
    } else {
        keys.keys.iter().map(|p| p.display().to_string()).collect()
    };
    match config::load_keys(&key_paths)? {
        Some(ring) => Ok(SignaturePolicy::Required(ring)),
        None if allow_unsigned => Ok(SignaturePolicy::DangerAllowUnsigned),
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
