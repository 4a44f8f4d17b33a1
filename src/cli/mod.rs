//! Command-line interface: `validate` and `read`.

pub mod error;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::artifact::{self, DiscardSink, PayloadType, ReadOptions, VerifiedArtifact};
use crate::cli::error::Error;
use crate::config::mender_conf::{ConfigError, MenderPaths};
use crate::config::resolve::{self, KeyOverrides};
use crate::config::settings::DaemonConfig;
use crate::error::escape::escaped;
use crate::error::{Class, exit};
use crate::install::context::{Finished, InstallOutcome};
use crate::install::flow;
use crate::install::module::RebootNeed;
use crate::policy::DeviceFacts;
use crate::signature::Trust;
use crate::state::store::Store;
use crate::stream::limits::Limits;
use crate::stream::progress::Progress;

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
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// Show the installed artifact and any install waiting for commit or rollback.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration strictly, as a provisioning pipeline wants it: loads mender.conf,
    /// every verify key (ArtifactVerifyKey/ArtifactVerifyKeys), the device type, the A/B
    /// partitions and the settings file exactly as every command does. Exit 0 when all of it is
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
    /// Print the name of the installed artifact.
    ShowArtifact,
    /// Print the device's provides, one key=value per line.
    ShowProvides,
    /// Run the service: the local API on a Unix socket, one operation at a time, and on start
    /// the check of a pending install after its reboot (commit or roll back). Settings in
    /// /etc/artifact-gate/artifact-gate.toml; keys and partitions from mender.conf. Under
    /// systemd: Type=notify, watchdog, socket activation and journal logging. See docs/api.md.
    Daemon {
        /// The daemon's TOML settings (default $ARTIFACT_GATE_CONFIG, else
        /// /etc/artifact-gate/artifact-gate.toml; a file named here must exist).
        #[arg(long, value_name = "FILE")]
        config_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct InstallArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Exit 4 when the update needs a reboot to take effect.
    #[arg(long)]
    reboot_exit_code: bool,
    /// DANGER: when no key is configured, install unsigned artifacts. Has no effect when a key
    /// is configured.
    #[arg(long)]
    allow_unsigned: bool,
    /// Install in this process even when the daemon's socket exists. Without this flag, and
    /// without -k, --config, --limit or --allow-unsigned, the artifact is handed to the running daemon
    /// ($ARTIFACT_GATE_SOCKET, else api.socket from /etc/artifact-gate/artifact-gate.toml).
    #[arg(long)]
    no_daemon: bool,
    /// The artifact file, an https:// URL (streamed, never stored whole; the system roots and
    /// mender.conf's ServerCertificate are trusted), or '-' for standard input.
    #[arg(value_name = "ARTIFACT|URL")]
    artifact: PathBuf,
}

#[derive(Debug, Args)]
struct StateArgs {
    /// Main Mender configuration file (see `validate --help`).
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// Verify key: a PEM public key (SubjectPublicKeyInfo or PKCS#1 RSA) or an X.509
    /// certificate (PEM or DER). Repeatable; keys are tried in order. When given, mender.conf
    /// keys are not used.
    #[arg(short = 'k', long = "key", value_name = "KEY")]
    keys: Vec<PathBuf>,
    /// Main Mender configuration file to read instead of $MENDER_CONF_DIR/mender.conf
    /// (default /etc/mender/mender.conf). The fallback $MENDER_DATASTORE_DIR/mender.conf
    /// (default /var/lib/mender/mender.conf) is read first either way.
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl KeyArgs {
    fn source(&self) -> KeyOverrides<'_> {
        KeyOverrides {
            keys: &self.keys,
            config: self.config.as_deref(),
        }
    }
}

#[derive(Debug, Args)]
struct LimitArgs {
    /// Override a resource limit for this run, as KEY=VALUE (repeatable). KEY is one of
    /// max_artifact_bytes, max_header_bytes, max_payload_files, max_tar_padding_bytes,
    /// max_xz_memory_bytes, max_inflate_ratio; VALUE a whole number, optionally with KiB, MiB
    /// or GiB. Otherwise the
    /// [limits] of the daemon's settings file apply ($ARTIFACT_GATE_CONFIG, else
    /// /etc/artifact-gate/artifact-gate.toml), else the built-in defaults.
    #[arg(long = "limit", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl LimitArgs {
    /// The limits for this run: defaults, then the settings file's `[limits]`, then `--limit`.
    fn resolve(&self) -> Result<Limits, ConfigError> {
        let settings =
            DaemonConfig::load(None).map_err(|e| ConfigError::Settings(e.to_string()))?;
        let mut config = settings.limits;
        for arg in &self.overrides {
            config.set(arg).map_err(|detail| ConfigError::Limit {
                arg: arg.clone(),
                detail,
            })?;
        }
        let mut limits = Limits::default();
        config.apply(&mut limits);
        Ok(limits)
    }
}

#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Also require the artifact to be compatible with this device type.
    #[arg(long, value_name = "TYPE")]
    device_type: Option<String>,
    /// DANGER: when no key is configured, accept unsigned (or unverifiable) artifacts. Every
    /// checksum is still checked against the manifest, but nothing proves who made it. Has no
    /// effect when a key is configured: then a valid signature is always required.
    #[arg(long)]
    allow_unsigned: bool,
    /// The artifact file, or '-' for standard input.
    #[arg(value_name = "ARTIFACT")]
    artifact: PathBuf,
}

#[derive(Debug, Args)]
struct ReadArgs {
    #[command(flatten)]
    keys: KeyArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The artifact file, or '-' for standard input. Without any configured key the signature
    /// is reported as not verified; the checksums are always checked.
    #[arg(value_name = "ARTIFACT")]
    artifact: PathBuf,
}

impl Command {
    /// Whether the command was asked for JSON output (errors then go to stdout as JSON too).
    fn json(&self) -> bool {
        match self {
            Self::Read(args) => args.json,
            Self::Status { json } => *json,
            _ => false,
        }
    }
}

/// Runs the command line and returns the exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if let Command::Daemon { config_file } = &cli.command {
        return match crate::daemon::run(config_file.as_deref(), cli.verbose) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("artifact-gate daemon: {e}");
                e.exit_code()
            }
        };
    }
    init_logging(cli.verbose);
    // install, commit and rollback use Mender's exit codes: every failure is 1.
    let mender_codes = matches!(
        cli.command,
        Command::Install(_) | Command::Commit(_) | Command::Rollback(_)
    );
    let json = cli.command.json();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let failure = e.failure();
            if json {
                // `--json` callers get the failure on stdout too, in its wire form.
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "error": failure }))
                        .unwrap_or_default()
                );
            }
            if mender_codes {
                eprintln!("artifact-gate: {e}");
                return exit::MENDER_FAILURE;
            }
            let prefix = match failure.class {
                Class::Rejected => "rejected",
                Class::Config => "error",
                Class::Failed | Class::Interrupted => "I/O error",
            };
            eprintln!("artifact-gate: {prefix}: {e}");
            failure.class.exit_code()
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}

fn run(cli: Cli) -> Result<u8, Error> {
    let paths = MenderPaths::from_env();
    let committing = matches!(cli.command, Command::Commit(_));
    match cli.command {
        Command::Validate(args) => {
            let (signature, broken) =
                resolve::signature_policy(&paths, &args.keys.source(), args.allow_unsigned)?;
            warn_broken_keys(&broken);
            let options = ReadOptions {
                signature,
                device: DeviceFacts {
                    device_type: args.device_type,
                    provides: None,
                },
                limits: args.limits.resolve()?,
            };
            let verified = verify_input(
                &paths,
                args.keys.config.as_deref(),
                &args.artifact,
                &options,
            )?;
            let mut out = io::stdout().lock();
            writeln!(out, "{}", verdict(&verified)).map_err(Error::Output)?;
            Ok(exit::OK)
        }
        Command::Read(args) => {
            // `read` describes; without a key it still checks every checksum and says plainly
            // that the signature was not verified.
            let (signature, broken) = resolve::signature_policy(&paths, &args.keys.source(), true)?;
            warn_broken_keys(&broken);
            let options = ReadOptions {
                signature,
                device: DeviceFacts::default(),
                limits: args.limits.resolve()?,
            };
            let verified = verify_input(
                &paths,
                args.keys.config.as_deref(),
                &args.artifact,
                &options,
            )?;
            let report = describe(&verified);
            let mut out = io::stdout().lock();
            let text = if args.json {
                serde_json::to_string_pretty(&report).unwrap_or_default()
            } else {
                render_text(&verified)
            };
            writeln!(out, "{text}").map_err(Error::Output)?;
            Ok(exit::OK)
        }
        Command::Install(args) => {
            let local_only = args.no_daemon
                || !args.keys.keys.is_empty()
                || args.keys.config.is_some()
                || !args.limits.overrides.is_empty()
                || args.allow_unsigned;
            if !local_only && let Some(socket) = crate::daemon::client::daemon_socket() {
                tracing::info!(socket = %socket.display(), "installing through the daemon");
                let outcome = crate::daemon::client::install(&socket, &args.artifact)?;
                if outcome.status == crate::daemon::wire::InstallStatus::Committed {
                    println!("Installed and committed.");
                } else {
                    println!(
                        "Installed, but not committed.\nUse 'commit' to update, or 'rollback' to roll back the update."
                    );
                }
                if outcome.reboot_required {
                    println!("At least one payload requested a reboot of the device it updated.");
                    if outcome.rebooting {
                        println!("The daemon is rebooting the device.");
                    }
                    if args.reboot_exit_code {
                        return Ok(exit::REBOOT_REQUIRED);
                    }
                }
                return Ok(exit::OK);
            }
            let mut ctx =
                resolve::install_context(&paths, &args.keys.source(), args.allow_unsigned)?;
            warn_broken_keys(&ctx.broken_keys);
            ctx.limits = args.limits.resolve()?;
            first_start_bootstrap(&ctx, &args.artifact)?;
            let input = resolve::open_input(&paths, args.keys.config.as_deref(), &args.artifact)?;
            let size = std::fs::metadata(&args.artifact)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len());
            let input = Progress::new(input, size, "installing");
            let outcome = flow::install(input, &ctx)?;
            let (reboot, text) = match outcome {
                InstallOutcome::Committed { reboot } => (reboot, "Installed and committed."),
                InstallOutcome::Pending { reboot } => (
                    reboot,
                    "Installed, but not committed.\nUse 'commit' to update, or 'rollback' to roll back the update.",
                ),
            };
            println!("{text}");
            if reboot != RebootNeed::No {
                println!("At least one payload requested a reboot of the device it updated.");
                if args.reboot_exit_code {
                    return Ok(exit::REBOOT_REQUIRED);
                }
            }
            Ok(exit::OK)
        }
        Command::Commit(args) | Command::Rollback(args) => {
            let keys = KeyOverrides {
                keys: &[],
                config: args.config.as_deref(),
            };
            // Keys are not needed here, so none are required.
            let ctx = resolve::install_context(&paths, &keys, true)?;
            let done = if committing {
                flow::commit(&ctx)?
            } else {
                flow::rollback(&ctx)?
            };
            match (done, committing) {
                (Finished::NothingPending, true) => {
                    eprintln!("There is nothing to commit");
                    Ok(exit::CONFIG)
                }
                (Finished::NothingPending, false) => {
                    eprintln!("There is nothing to roll back");
                    Ok(exit::CONFIG)
                }
                (Finished::Done(name), true) => {
                    println!("Committed {name}.");
                    Ok(exit::OK)
                }
                (Finished::Done(name), false) => {
                    println!("Rolled back {name}.");
                    Ok(exit::OK)
                }
            }
        }
        Command::Status { json } => {
            let mut report = flow::status(&paths)?;
            report.broken_verify_keys = resolve::broken_keys(&paths, None);
            let mut out = io::stdout().lock();
            let text = if json {
                serde_json::to_string_pretty(&report).unwrap_or_default()
            } else {
                let installed = escaped(report.artifact_name.as_deref().unwrap_or("Unknown"));
                let waiting = match &report.pending {
                    None => "none".to_owned(),
                    Some(p) => format!(
                        "{} ({}), reboot: {}, rollback: {}",
                        escaped(&p.artifact_name),
                        escaped(&p.payload_type),
                        p.reboot.as_str(),
                        if p.supports_rollback {
                            "supported"
                        } else {
                            "not supported"
                        }
                    ),
                };
                let mut text =
                    format!("Installed artifact: {installed}\nPending install: {waiting}");
                for key in &report.broken_verify_keys {
                    text.push_str(&format!("\nUnusable verify key: {key}"));
                }
                text
            };
            writeln!(out, "{text}").map_err(Error::Output)?;
            Ok(exit::OK)
        }
        Command::CheckConfig {
            config,
            config_file,
        } => {
            let report = resolve::check_config(&paths, config.as_deref(), config_file.as_deref())?;
            let mut out = io::stdout().lock();
            for line in report {
                writeln!(out, "{line}").map_err(Error::Output)?;
            }
            writeln!(out, "configuration OK").map_err(Error::Output)?;
            Ok(exit::OK)
        }
        Command::ShowArtifact => {
            let provides = Store::new(&paths.datastore_dir)
                .provides()
                .map_err(|e| Error::Install(e.into()))?;
            println!("{}", provides.artifact_name.as_deref().unwrap_or("Unknown"));
            Ok(exit::OK)
        }
        Command::Daemon { .. } => Ok(exit::OK),
        Command::ShowProvides => {
            let provides = Store::new(&paths.datastore_dir)
                .provides()
                .map_err(|e| Error::Install(e.into()))?;
            let mut out = io::stdout().lock();
            for key in ["artifact_name", "artifact_group"] {
                if let Some(v) = provides.get(key) {
                    writeln!(out, "{key}={v}").map_err(Error::Output)?;
                }
            }
            for (k, v) in &provides.values {
                writeln!(out, "{k}={v}").map_err(Error::Output)?;
            }
            Ok(exit::OK)
        }
    }
}

/// At the first start (no artifact installed yet), `<datastore>/bootstrap.mender` is installed
/// before the requested artifact, as the daemon does; a refused one is reported and left alone.
fn first_start_bootstrap(
    ctx: &crate::install::context::InstallContext,
    requested: &std::path::Path,
) -> Result<(), Error> {
    let path = crate::install::bootstrap::bootstrap_path(ctx);
    let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if same(requested, &path) {
        // Installing the bootstrap artifact itself: the requested install is the bootstrap.
        return Ok(());
    }
    let accept_unsigned = DaemonConfig::load(None)
        .map_err(|e| ConfigError::Settings(e.to_string()))?
        .update
        .accept_unsigned_bootstrap;
    let done = crate::install::bootstrap::install_bootstrap(ctx, accept_unsigned);
    if let Some(line) = done.describe() {
        eprintln!("artifact-gate: {line}");
    }
    Ok(())
}

/// One stderr line per configured verify key that is not used, on every verdict.
fn warn_broken_keys(broken: &[crate::config::mender_conf::BrokenKey]) {
    for key in broken {
        eprintln!("artifact-gate: warning: verify key not used: {key}");
    }
}

fn verify_input(
    paths: &MenderPaths,
    config: Option<&std::path::Path>,
    artifact: &std::path::Path,
    options: &ReadOptions,
) -> Result<VerifiedArtifact, Error> {
    let input = resolve::open_input(paths, config, artifact)?;
    let verified = artifact::read_artifact(input, options, &mut DiscardSink)?;
    if let Trust::Verified { key, scheme } = &verified.trust() {
        tracing::info!(key = %key, scheme = scheme.name(), "manifest signature verified");
    }
    Ok(verified)
}

fn verdict(v: &VerifiedArtifact) -> String {
    let bytes: u64 = v.files().iter().map(|f| f.size()).sum();
    let kind = v.header().payload_type().name().unwrap_or("empty payload");
    let trust = match &v.trust() {
        Trust::Verified { key, scheme } => {
            format!("signature verified with key '{key}' ({})", scheme.name())
        }
        Trust::DangerUnverified { signed: true } => {
            "WARNING: signed, but the signature was NOT verified (no key configured)".to_owned()
        }
        Trust::DangerUnverified { signed: false } => {
            "WARNING: unsigned; only checksums were verified".to_owned()
        }
    };
    format!(
        "valid: artifact '{}' ({}, {} file(s), {bytes} bytes); {trust}",
        escaped(&v.header().artifact_name()),
        escaped(kind),
        v.files().len()
    )
}

fn trust_json(trust: &Trust) -> Value {
    match trust {
        Trust::Verified { key, scheme } => json!({
            "status": "verified", "key": key, "scheme": scheme.name()
        }),
        Trust::DangerUnverified { signed } => json!({
            "status": if *signed { "signed-not-verified" } else { "unsigned" },
            "key": null, "scheme": null
        }),
    }
}

fn describe(v: &VerifiedArtifact) -> Value {
    let h = &v.header();
    json!({
        "name": h.artifact_name(),
        "group": h.artifact_group(),
        "format": "mender",
        "format_version": v.format_version(),
        "compression": v.compression().to_string(),
        "signature": trust_json(v.trust()),
        "device_types": h.device_types(),
        "depends": {
            "artifact_name": h.depends_artifact_name(),
            "artifact_group": h.depends_artifact_group(),
        },
        "payload": {
            "type": h.payload_type().name(),
            "provides": h.provides(),
            "depends": h.depends(),
            "clears_provides": h.clears_provides(),
            "meta_data": h.meta_data(),
            "files": v.files().iter().map(|f| json!({
                "name": f.name(), "size": f.size(), "sha256": hex::encode(f.sha256())
            })).collect::<Vec<_>>(),
        },
        "scripts": h.scripts().iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
    })
}

/// The artifact's own strings escaped for a terminal (see [`crate::error::escape`]), joined by `, `.
fn escaped_join<T: AsRef<[u8]>>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| escaped(v).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `read`'s text report. Every string from the artifact is escaped: `read` also describes
/// unsigned artifacts, whose strings nobody vouches for.
fn render_text(v: &VerifiedArtifact) -> String {
    let h = &v.header();
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line("Mender artifact:".to_owned());
    line(format!("  Name: {}", escaped(&h.artifact_name())));
    line(format!("  Format: mender, version {}", v.format_version()));
    line(format!("  Compression: {}", v.compression()));
    let sig = match &v.trust() {
        Trust::Verified { key, scheme } => format!("verified with '{key}' ({})", scheme.name()),
        Trust::DangerUnverified { signed: true } => "signed, NOT verified (no key)".to_owned(),
        Trust::DangerUnverified { signed: false } => "unsigned".to_owned(),
    };
    line(format!("  Signature: {sig}"));
    line(format!(
        "  Compatible devices: {}",
        escaped_join(h.device_types())
    ));
    line(format!(
        "  Provides group: {}",
        escaped(h.artifact_group().unwrap_or(""))
    ));
    line(format!(
        "  Depends on artifact(s): {}",
        escaped_join(h.depends_artifact_name())
    ));
    line(format!(
        "  Depends on group(s): {}",
        escaped_join(h.depends_artifact_group())
    ));
    let scripts: Vec<&str> = h.scripts().iter().map(|(n, _)| n.as_str()).collect();
    line(format!("  State scripts: {}", escaped_join(&scripts)));
    line("Payload 0:".to_owned());
    let kind = match &h.payload_type() {
        PayloadType::Empty => "(empty)".to_owned(),
        PayloadType::Named(n) => escaped(n).to_string(),
    };
    line(format!("  Type: {kind}"));
    line("  Provides:".to_owned());
    for (k, val) in h.provides() {
        line(format!("    {}: {}", escaped(k), escaped(val)));
    }
    line("  Depends:".to_owned());
    for (k, val) in h.depends() {
        line(format!("    {}: {}", escaped(k), escaped_join(val)));
    }
    if let Some(clears) = &h.clears_provides() {
        line(format!("  Clears provides: {}", escaped_join(clears)));
    }
    line("  Files:".to_owned());
    for f in v.files() {
        line(format!(
            "    {}  {} bytes  sha256 {}",
            escaped(&f.name()),
            f.size(),
            hex::encode(f.sha256())
        ));
    }
    s.trim_end().to_owned()
}
