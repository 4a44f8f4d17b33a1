//! The command line's arguments (clap derive): the commands, their options and their `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::mender_conf::MenderPaths;
use crate::config::resolve::{Overrides, Settings};

/// On-device verifier for Mender Artifacts.
///
/// Checks the manifest signature, then the SHA-256 of `version`, the header and every payload
/// file, in one streaming pass. Exit codes: 0 valid, 1 artifact rejected, 2 usage or
/// configuration error, 3 I/O failure.
#[derive(Debug, Parser)]
#[command(name = "artifact-gate", version, about, long_about)]
pub struct Cli {
    /// More log output on stderr (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(super) verbose: u8,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Verify an artifact: signature, layout and every checksum. Prints a one-line verdict.
    Validate(ValidateArgs),
    /// Verify an artifact and describe it (name, signature, devices, provides, files, scripts).
    Read(ReadArgs),
    /// Install an artifact: an Update Module payload, an empty payload, or a rootfs-image onto
    /// the inactive partition of RootfsPartA/RootfsPartB. The artifact is verified in the same
    /// single pass that streams its payload; ArtifactInstall runs only after every check passed.
    /// Exit codes as Mender's: 0 ok, 1 failure, 4 reboot required (with --reboot-exit-code).
    Install(InstallArgs),
    /// Commit the installed update. Exit 0 ok, 1 failure, 2 nothing to commit.
    Commit(StateArgs),
    /// Roll back the installed update. Exit 0 ok, 1 failure, 2 nothing to roll back.
    Rollback(StateArgs),
    /// Carry on an update that stopped (`--stop-before`), as `mender-update resume`:
    /// ArtifactInstall after a stop before it, the commit of an installed update, or the rest
    /// of a commit or rollback. Exit 0 ok, 1 failure, 2 no update in progress, 4 reboot
    /// required (with --reboot-exit-code).
    Resume(ResumeArgs),
    /// Show the installed artifact and any install waiting for commit or rollback.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration strictly, as a provisioning pipeline wants it: loads mender.conf,
    /// every verify key (ArtifactVerifyKey/ArtifactVerifyKeys), the device type, the A/B
    /// partitions, the settings file and, with a ServerURL, the Mender server agent's settings,
    /// certificates and device key, exactly as every command does. Exit 0 when all of it is
    /// usable, 2 on any problem — including one verify-key entry that cannot be used, which the
    /// other commands only warn about while another key is usable.
    CheckConfig {
        /// Main Mender configuration file (see `validate --help`).
        #[arg(long = "config", value_name = "FILE")]
        config: Option<PathBuf>,
        /// The settings file (default $ARTIFACT_GATE_CONFIG, else
        /// /etc/artifact-gate/artifact-gate.toml; a file named here must exist).
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
    },
    /// Ask the Mender server for a deployment now (the running daemon's agent does it; needs
    /// ServerURL in mender.conf). Exit 0 when the daemon took the request.
    CheckUpdate,
    /// Send the inventory to the Mender server now (through the running daemon's agent).
    SendInventory,
    /// Print the name of the installed artifact.
    ShowArtifact,
    /// Print the device's provides, one key=value per line.
    ShowProvides,
    /// Run the service: the local API on a Unix socket, one operation at a time, and on start
    /// the check of a pending install after its reboot (commit or roll back). Settings in
    /// /etc/artifact-gate/artifact-gate.toml; keys and partitions from mender.conf. Under
    /// systemd: Type=notify, watchdog, socket activation and journal logging. With a ServerURL in
    /// mender.conf it is also the device's Mender agent: it authenticates with the server, sends
    /// the inventory and takes deployments (docs/server.md). See docs/api.md.
    Daemon {
        /// The daemon's TOML settings (default $ARTIFACT_GATE_CONFIG, else
        /// /etc/artifact-gate/artifact-gate.toml; a file named here must exist).
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(super) struct InstallArgs {
    #[command(flatten)]
    pub(super) keys: KeyArgs,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    /// Exit 4 when the update needs a reboot to take effect.
    #[arg(long)]
    pub(super) reboot_exit_code: bool,
    /// DANGER: when no key is configured, install unsigned artifacts. Has no effect when a key
    /// is configured.
    #[arg(long)]
    pub(super) allow_unsigned: bool,
    /// Install in this process even when the daemon's socket exists. Without this flag, and
    /// without -k, --config, --limit, --allow-unsigned, --allow-downgrade or --stop-before, the artifact is handed to the running daemon
    /// ($ARTIFACT_GATE_SOCKET, else api.socket from /etc/artifact-gate/artifact-gate.toml).
    #[arg(long)]
    pub(super) no_daemon: bool,
    /// Install only the artifact that was inspected: the manifest_sha256 that `read --json` or
    /// `validate` printed for it. Any other artifact, even a validly signed one, is rejected.
    #[arg(long, value_name = "HEX", value_parser = crate::stream::parse_sha256_hex)]
    pub(super) expect_manifest_sha256: Option<crate::stream::Sha256Digest>,
    /// Install below the downgrade floor ([policy] version_provide) this once; the floor itself
    /// stays where it is. Root only, in this process (never through the daemon), and logged.
    /// The security floor ([policy] security_version_provide) has no override.
    #[arg(long)]
    pub(super) allow_downgrade: bool,
    #[command(flatten)]
    pub(super) stops: StopArgs,
    /// The artifact file, an https:// URL (streamed, never stored whole; the system roots and
    /// mender.conf's ServerCertificate are trusted), or '-' for standard input.
    #[arg(value_name = "ARTIFACT|URL")]
    pub(super) artifact: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct StateArgs {
    /// Main Mender configuration file (see `validate --help`).
    #[arg(long = "config", value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    #[command(flatten)]
    pub(super) stops: StopArgs,
}

#[derive(Debug, Args)]
pub(super) struct ResumeArgs {
    #[command(flatten)]
    pub(super) state: StateArgs,
    /// Exit 4 when the update needs a reboot to take effect.
    #[arg(long)]
    pub(super) reboot_exit_code: bool,
}

#[derive(Debug, Args)]
pub(super) struct StopArgs {
    /// Stop before entering STATE, to be carried on by `resume` (repeatable; as mender-update
    /// 5): ArtifactInstall_Enter (downloaded and verified, nothing changed), ArtifactCommit_Enter,
    /// ArtifactCommit_Leave, ArtifactRollback_Enter, ArtifactFailure_Enter or Cleanup. The stop
    /// is kept in the install state, so it survives a reboot; a second run with the same stop
    /// stops at the same point.
    #[arg(long = "stop-before", value_name = "STATE", value_parser = crate::install::stops::StopState::parse)]
    pub(super) stop_before: Vec<crate::install::stops::StopState>,
}

impl StopArgs {
    pub(super) fn stops(&self) -> crate::install::stops::StopBefore {
        crate::install::stops::StopBefore::new(self.stop_before.iter().copied())
    }
}

#[derive(Debug, Args)]
pub(super) struct KeyArgs {
    /// Verify key: a PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA) or an X.509
    /// certificate (PEM or DER). Repeatable; keys are tried in order. When given, mender.conf
    /// keys are not used.
    #[arg(short = 'k', long = "key", value_name = "KEY")]
    pub(super) keys: Vec<PathBuf>,
    /// Main Mender configuration file to read instead of $MENDER_CONF_DIR/mender.conf
    /// (default /etc/mender/mender.conf). The fallback $MENDER_DATASTORE_DIR/mender.conf
    /// (default /var/lib/mender/mender.conf) is read first either way.
    #[arg(long = "config", value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct LimitArgs {
    /// Override a resource limit for this run, as KEY=VALUE (repeatable). KEY is a key of
    /// [limits] (max_artifact_bytes, max_header_bytes, max_payload_files, max_tar_padding_bytes,
    /// max_xz_memory_bytes, max_inflate_ratio, …); VALUE a whole number, optionally with KiB,
    /// MiB or GiB. Otherwise the
    /// [limits] of the daemon's settings file apply ($ARTIFACT_GATE_CONFIG, else
    /// /etc/artifact-gate/artifact-gate.toml), else the built-in defaults.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    pub(super) overrides: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    #[command(flatten)]
    pub(super) keys: KeyArgs,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    /// Also require the artifact to be compatible with this device type.
    #[arg(long, value_name = "TYPE")]
    pub(super) device_type: Option<String>,
    /// DANGER: when no key is configured, accept unsigned (or unverifiable) artifacts. Every
    /// checksum is still checked against the manifest, but nothing proves who made it. Has no
    /// effect when a key is configured: then a valid signature is always required.
    #[arg(long)]
    pub(super) allow_unsigned: bool,
    /// The artifact file, or '-' for standard input.
    #[arg(value_name = "ARTIFACT")]
    pub(super) artifact: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct ReadArgs {
    #[command(flatten)]
    pub(super) keys: KeyArgs,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(super) json: bool,
    /// The artifact file, or '-' for standard input. Without any configured key the signature
    /// is reported as not verified; the checksums are always checked.
    #[arg(value_name = "ARTIFACT")]
    pub(super) artifact: PathBuf,
}

impl Command {
    /// The configuration this command runs with: its `-k`, `--config`, `--limit` and
    /// `--config-file` over the device's files.
    pub(super) fn settings(&self) -> Settings {
        let with = |keys: &KeyArgs, limits: &LimitArgs| Overrides {
            keys: keys.keys.clone(),
            mender_conf: keys.config.clone(),
            limits: limits.overrides.clone(),
        };
        let (overrides, settings_file) = match self {
            Self::Validate(a) => (with(&a.keys, &a.limits), None),
            Self::Read(a) => (with(&a.keys, &a.limits), None),
            Self::Install(a) => (with(&a.keys, &a.limits), None),
            Self::Commit(a) | Self::Rollback(a) | Self::Resume(ResumeArgs { state: a, .. }) => (
                Overrides {
                    mender_conf: a.config.clone(),
                    ..Overrides::default()
                },
                None,
            ),
            Self::CheckConfig {
                config,
                config_file,
            } => (
                Overrides {
                    mender_conf: config.clone(),
                    ..Overrides::default()
                },
                config_file.as_deref(),
            ),
            _ => (Overrides::default(), None),
        };
        Settings::new(MenderPaths::from_env(), settings_file, overrides)
    }

    /// Whether the command was asked for JSON output (errors then go to stdout as JSON too).
    pub(super) fn json(&self) -> bool {
        match self {
            Self::Read(args) => args.json,
            Self::Status { json } => *json,
            _ => false,
        }
    }
}
