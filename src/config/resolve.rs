//! The configuration, resolved once: [`Settings`] holds mender.conf, artifact-gate.toml and the
//! command line's overrides, each file read at most once per command, and gives what a command
//! needs from them: the signature policy, the limits, the install context and the opened input.
//! The command line and the daemon both go through it, so they read mender.conf, the keys, the
//! device type, the boot environment and the limits the same way.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::config::mender_conf::{self, ConfigError, MenderConfig, MenderPaths};
use crate::config::settings::{DaemonConfig, set_limit};
use crate::fetch::retry::DownloadPolicy;
use crate::install::bootenv::BootEnv;
use crate::install::context::InstallContext;
use crate::install::grubenv::GrubEnv;
use crate::install::rootfs::RootfsLayout;
use crate::install::scripts::RetryPolicy;
use crate::keys::load::{self, BrokenKey};
use crate::signature::SignaturePolicy;
use crate::stream::limits::Limits;
use crate::stream::source::{Opened, Source, SourceError, UrlOptions};

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

/// What the command line asks for beyond the configuration files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Keys given explicitly (`-k`); when non-empty mender.conf's keys are not used.
    pub keys: Vec<PathBuf>,
    /// A main mender.conf other than `$MENDER_CONF_DIR/mender.conf` (`--config`).
    pub mender_conf: Option<PathBuf>,
    /// `--limit KEY=VALUE`, applied over `[limits]`.
    pub limits: Vec<String>,
}

/// The device's configuration as one command sees it. Each file is read the first time it is
/// needed and then kept, so a command reads mender.conf and artifact-gate.toml at most once.
#[derive(Debug)]
pub struct Settings {
    paths: MenderPaths,
    overrides: Overrides,
    /// artifact-gate.toml: the file named (`--config-file`), else the default location.
    settings_file: Option<PathBuf>,
    mender: OnceLock<MenderConfig>,
    gate: OnceLock<DaemonConfig>,
}

impl Settings {
    /// The configuration of the device at `paths`, with `overrides`; `settings_file` names an
    /// artifact-gate.toml other than the default.
    pub fn new(paths: MenderPaths, settings_file: Option<&Path>, overrides: Overrides) -> Self {
        Self {
            paths,
            overrides,
            settings_file: settings_file.map(Path::to_path_buf),
            mender: OnceLock::new(),
            gate: OnceLock::new(),
        }
    }

    /// The same, with artifact-gate.toml already loaded (the daemon reads it at start).
    pub fn with_gate(paths: MenderPaths, gate: DaemonConfig) -> Self {
        let settings = Self::new(paths, None, Overrides::default());
        let _ = settings.gate.set(gate);
        settings
    }

    /// Mender's directories.
    pub fn paths(&self) -> &MenderPaths {
        &self.paths
    }

    /// mender.conf (its fallback file merged under the main one).
    pub fn mender(&self) -> Result<&MenderConfig, ConfigError> {
        if let Some(conf) = self.mender.get() {
            return Ok(conf);
        }
        let conf = MenderConfig::load(&self.paths, self.overrides.mender_conf.as_deref())?;
        Ok(self.mender.get_or_init(|| conf))
    }

    /// artifact-gate.toml (its defaults when the default file does not exist).
    pub fn gate(&self) -> Result<&DaemonConfig, ConfigError> {
        if let Some(gate) = self.gate.get() {
            return Ok(gate);
        }
        let gate = DaemonConfig::load(self.settings_file.as_deref())
            .map_err(|e| ConfigError::Settings(e.to_string()))?;
        Ok(self.gate.get_or_init(|| gate))
    }

    /// The limits: the built-in defaults, then `[limits]`, then `--limit`.
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let mut limits = self.gate()?.limits.clone();
        for arg in &self.overrides.limits {
            set_limit(&mut limits, arg).map_err(|detail| ConfigError::Limit {
                arg: arg.clone(),
                detail,
            })?;
        }
        Ok(limits)
    }

    /// The device facts and policy an install needs; a missing or malformed device_type file
    /// is a configuration error (Mender 3 would continue without it). The boot environment is
    /// `[boot]`'s when set, else the system's.
    pub fn install_context(&self, allow_unsigned: bool) -> Result<InstallContext, Error> {
        let conf = self.mender()?;
        let (signature, broken_keys) = self.signature_policy(allow_unsigned)?;
        let device_type = mender_conf::read_device_type(&self.paths, conf)?;
        let gate = self.gate()?;
        let (floor_policy, floor_store) = gate
            .policy
            .floors()
            .map_err(|(key, detail)| ConfigError::Settings(format!("{key}: {detail}")))?;
        let mut bootenv = BootEnv::from_env();
        if let Some(config) = &gate.boot.fw_env_config {
            bootenv = BootEnv::UBoot {
                config: Some(config.clone()),
            };
        }
        if let Some(dir) = &gate.boot.grubenv_dir {
            bootenv = BootEnv::Grub(GrubEnv::with_system_lock(dir.clone()));
        }
        Ok(InstallContext {
            paths: self.paths.clone(),
            signature,
            broken_keys,
            device_type,
            module_timeout: seconds_setting(conf, "ModuleTimeoutSeconds", DEFAULT_MODULE_TIMEOUT)?,
            script_timeout: seconds_setting(
                conf,
                "StateScriptTimeoutSeconds",
                DEFAULT_SCRIPT_TIMEOUT,
            )?,
            script_retry: RetryPolicy {
                interval: seconds_setting(conf, "StateScriptRetryIntervalSeconds", 60)?,
                timeout: seconds_setting(conf, "StateScriptRetryTimeoutSeconds", 1800)?,
            },
            rootfs: rootfs_layout(conf)?,
            bootenv,
            limits: self.limits()?,
            observer: Default::default(),
            deployment: None,
            expect_manifest_sha256: None,
            floors: crate::state::floor::FloorKeeper::new(
                &self.paths.datastore_dir,
                floor_policy,
                floor_store,
            ),
            spool: gate.update.spool(&self.paths.datastore_dir),
            stops: Default::default(),
            allow_downgrade: false,
        })
    }

    /// Decides the signature policy: `-k` keys, else mender.conf keys; with none, refuse unless
    /// unsigned artifacts were explicitly allowed. Also returns the mender.conf key entries that
    /// cannot be used (the usable ones verify; with none usable it is an error). A `-k` key that
    /// cannot be used is an error: the operator named it for this command.
    pub fn signature_policy(
        &self,
        allow_unsigned: bool,
    ) -> Result<(SignaturePolicy, Vec<BrokenKey>), Error> {
        let (ring, broken) = if self.overrides.keys.is_empty() {
            let loaded = load::load_key_list(&self.mender()?.verify_key_paths()?)?;
            (loaded.ring, loaded.broken)
        } else {
            let key_paths: Vec<String> = self
                .overrides
                .keys
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            (load::load_keys(&key_paths)?, Vec::new())
        };
        // Revocation applies to -k keys too: a revoked key must not verify on any path.
        let revoked = self
            .gate()?
            .policy
            .revoked()
            .map_err(ConfigError::Settings)?;
        let scopes = self.gate()?.policy.key.clone();
        // A scope for a key that is not configured is most likely a typo, which would leave
        // the real key unrestricted: refuse it.
        let configured = self.mender()?.verify_key_paths()?;
        if let Some(stray) = scopes.iter().find(|s| {
            !configured.contains(&s.key)
                && !self
                    .overrides
                    .keys
                    .iter()
                    .any(|k| k.display().to_string() == s.key)
        }) {
            return Err(ConfigError::Settings(format!(
                "[[policy.key]] key = {:?} is not a configured verify key (give it exactly as \
                 mender.conf's ArtifactVerifyKey(s) or -k does)",
                stray.key
            ))
            .into());
        }
        match ring {
            Some(ring) => Ok((
                SignaturePolicy::Required(ring.with_revoked(revoked).with_scopes(scopes)),
                broken,
            )),
            None if allow_unsigned => Ok((SignaturePolicy::DangerAllowUnsigned, broken)),
            None => Err(ConfigError::NoKeys(self.main_config()).into()),
        }
    }

    /// Every mender.conf verify-key entry that cannot be used (for `status` and the daemon), or
    /// the reason the list itself cannot be read.
    pub fn broken_keys(&self) -> Vec<BrokenKey> {
        let listed = self.mender().and_then(MenderConfig::verify_key_paths);
        match listed.and_then(|list| load::load_key_list(&list)) {
            Ok(loaded) => loaded.broken,
            Err(ConfigError::NoUsableKey(broken)) => broken,
            Err(e) => vec![BrokenKey {
                entry: "mender.conf".to_owned(),
                reason: e.to_string(),
            }],
        }
    }

    /// `check-config`: loads mender.conf, the settings and every key as every command does,
    /// and fails on any problem, including a single verify-key entry that cannot be used (which
    /// other commands only warn about). Returns what it checked, for the report.
    pub fn check(&self) -> Result<Vec<String>, Error> {
        let mut report = Vec::new();
        let entries = self.mender()?.verify_key_paths()?;
        let loaded = load::load_key_list(&entries)?;
        if !loaded.broken.is_empty() {
            return Err(ConfigError::BrokenKeys(loaded.broken).into());
        }
        if entries.is_empty() {
            return Err(ConfigError::NoKeys(self.main_config()).into());
        }
        report.push(format!(
            "verify keys: {} usable ({})",
            entries.len(),
            entries.join(", ")
        ));
        let ctx = self.install_context(false)?;
        report.push(format!("device type: {}", ctx.device_type));
        report.push(match &ctx.rootfs {
            Some(layout) => format!(
                "A/B partitions: {} and {}",
                layout.part_a.display(),
                layout.part_b.display()
            ),
            None => "A/B partitions: not configured (rootfs-image updates are refused)".to_owned(),
        });
        if ctx.floors.policy().is_active() {
            let provides = ctx
                .store()
                .provides()
                .map_err(|e| ConfigError::Settings(e.to_string()))?;
            let floors = ctx
                .floors
                .read(&provides)
                .map_err(|e| ConfigError::Settings(e.to_string()))?;
            let policy = ctx.floors.policy();
            if let Some(rule) = &policy.version {
                report.push(format!(
                    "downgrade floor: {} ({}) at {}",
                    rule.provide,
                    rule.scheme.name(),
                    floors.version.as_deref().unwrap_or("none yet")
                ));
            }
            if let Some(key) = &policy.security_provide {
                report.push(match &floors.security {
                    Some((floor, store)) => format!("security floor: {key} at {floor}, in {store}"),
                    None => format!("security floor: {key}, none committed yet"),
                });
            }
        }
        report.push("settings: ok".to_owned());
        Ok(report)
    }

    /// Opens a file, `-` or an `https://` URL (trusting `ServerCertificate` from mender.conf,
    /// downloading as `[download]` says).
    pub fn open_input(&self, artifact: &Path) -> Result<Box<dyn Read + Send>, Error> {
        Ok(self.open_input_sized(artifact, None)?.0)
    }

    /// [`Self::open_input`] with the input's length when known, a download's waits ending
    /// when `cancel` is set.
    pub fn open_input_sized(
        &self,
        artifact: &Path,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<Opened, Error> {
        let source = Source::parse(artifact);
        let server_certificate = match &source {
            Source::Url(_) => self.server_certificate()?,
            _ => None,
        };
        let options = UrlOptions {
            server_certificate,
            policy: match &source {
                Source::Url(_) => self.gate()?.download.clone(),
                _ => DownloadPolicy::default(),
            },
            cancel,
        };
        Ok(source.open(&options)?)
    }

    /// `ServerCertificate` from mender.conf, when set.
    pub fn server_certificate(&self) -> Result<Option<PathBuf>, Error> {
        match self.mender()?.get("ServerCertificate") {
            Some((_, serde_json::Value::String(p))) if !p.is_empty() => Ok(Some(PathBuf::from(p))),
            Some((file, _)) => Err(ConfigError::WrongType {
                path: file.to_owned(),
                key: "ServerCertificate",
                expected: "a certificate file path",
            }
            .into()),
            None => Ok(None),
        }
    }

    /// The main mender.conf's path, as messages name it.
    fn main_config(&self) -> String {
        self.overrides
            .mender_conf
            .clone()
            .unwrap_or_else(|| self.paths.main_config())
            .display()
            .to_string()
    }
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
