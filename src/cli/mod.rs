//! The command line: every subcommand of `artifact-gate` (`args` has them and their
//! `--help`), run against the library, with the reports of `report` and exit codes from
//! [`crate::error`]. `artifact-gate daemon` hands over to [`crate::daemon::run`].

mod args;
pub mod error;
mod report;

use std::io::{self, Write};

use clap::Parser;

use crate::artifact::{self, DiscardSink, ReadOptions, VerifiedArtifact};
use crate::cli::error::Error;
use crate::config::resolve::Settings;
use crate::error::escape::escaped;
use crate::error::{Class, exit};
use crate::install::context::{Finished, InstallOutcome};
use crate::install::flow;
use crate::install::module::RebootNeed;
use crate::install::stops::StopState;
use crate::policy::DeviceFacts;
use crate::signature::Trust;
use crate::state::store::Store;
use crate::stream::progress::Progress;
use args::{Command, StateArgs};
use report::{describe, render_text, verdict};

pub use args::Cli;

/// Runs the command line and returns the exit code.
pub fn main() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A usage error is a configuration error; --help and --version are not errors.
            let code = if e.use_stderr() {
                exit::CONFIG
            } else {
                exit::OK
            };
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
        Command::Install(_) | Command::Commit(_) | Command::Rollback(_) | Command::Resume(_)
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
    let settings = cli.command.settings();
    let paths = settings.paths().clone();
    let committing = matches!(cli.command, Command::Commit(_));
    match cli.command {
        Command::Validate(args) => {
            let (signature, broken) = settings.signature_policy(args.allow_unsigned)?;
            warn_broken_keys(&broken);
            let options = ReadOptions {
                signature,
                device: DeviceFacts {
                    device_type: args.device_type,
                    provides: None,
                    floor: None,
                },
                limits: settings.limits()?,
                expect_manifest_sha256: None,
            };
            let verified = verify_input(&settings, &args.artifact, &options)?;
            let mut out = io::stdout().lock();
            writeln!(out, "{}", verdict(&verified)).map_err(Error::Output)?;
            Ok(exit::OK)
        }
        Command::Read(args) => {
            // `read` describes; without a key it still checks every checksum and says plainly
            // that the signature was not verified.
            let (signature, broken) = settings.signature_policy(true)?;
            warn_broken_keys(&broken);
            let options = ReadOptions {
                signature,
                device: DeviceFacts::default(),
                limits: settings.limits()?,
                expect_manifest_sha256: None,
            };
            let verified = verify_input(&settings, &args.artifact, &options)?;
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
                || args.allow_unsigned
                || args.allow_downgrade
                || !args.stops.stop_before.is_empty();
            if !local_only && let Some(socket) = crate::daemon::api_client::daemon_socket(&settings)
            {
                tracing::info!(socket = %socket.display(), "installing through the daemon");
                let outcome = crate::daemon::api_client::install(
                    &socket,
                    &args.artifact,
                    args.expect_manifest_sha256.as_ref(),
                )?;
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
            let mut ctx = settings.install_context(args.allow_unsigned)?;
            ctx.expect_manifest_sha256 = args.expect_manifest_sha256;
            ctx.stops = args.stops.stops();
            if args.allow_downgrade {
                allow_downgrade(&mut ctx)?;
            }
            warn_broken_keys(&ctx.broken_keys);
            first_start_bootstrap(&settings, &ctx, &args.artifact)?;
            let (input, size) = settings.open_input_sized(&args.artifact, None)?;
            let input = Progress::new(input, size, "installing");
            let outcome = flow::install(input, &ctx)?;
            Ok(report_outcome(outcome, args.reboot_exit_code))
        }
        Command::Resume(args) => {
            let mut ctx = settings.install_context(true)?;
            ctx.stops = args.state.stops.stops();
            match crate::install::staged::resume(&ctx)? {
                None => {
                    println!("No update in progress.");
                    Ok(exit::CONFIG)
                }
                Some(outcome) => Ok(report_outcome(outcome, args.reboot_exit_code)),
            }
        }
        Command::Commit(StateArgs { stops, .. }) | Command::Rollback(StateArgs { stops, .. }) => {
            // Keys are not needed here, so none are required.
            let mut ctx = settings.install_context(true)?;
            ctx.stops = stops.stops();
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
                (Finished::Stopped(state), _) => {
                    println!("Stopped before {state}; 'resume' carries on.");
                    Ok(exit::OK)
                }
            }
        }
        Command::Status { json } => {
            let mut report = flow::status(&paths)?;
            report.broken_verify_keys = settings.broken_keys();
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
        Command::CheckUpdate | Command::SendInventory => {
            let path = if matches!(cli.command, Command::CheckUpdate) {
                "/v1/check-update"
            } else {
                "/v1/send-inventory"
            };
            let socket = crate::daemon::api_client::daemon_socket(&settings).ok_or_else(|| {
                crate::daemon::api_client::ClientError::Transport {
                    socket: settings
                        .gate()
                        .map(|g| g.api.socket.clone())
                        .unwrap_or_default(),
                    detail: "no daemon is listening there (is artifact-gate.service running?)"
                        .to_owned(),
                }
            })?;
            let result = crate::daemon::api_client::trigger(&socket, path)?;
            println!("The daemon is {result}; see 'journalctl -u artifact-gate' for the outcome.");
            Ok(exit::OK)
        }
        Command::CheckConfig { .. } => {
            let mut report = settings.check()?;
            let gate = settings.gate()?;
            let server = crate::server::prepare(
                settings.mender()?,
                &paths,
                &gate.server,
                gate.download.clone(),
            )?;
            report.push(match server {
                None => "Mender server: none (no ServerURL in mender.conf)".to_owned(),
                Some(p) => format!(
                    "Mender server: {}, device key {}",
                    p.settings.url,
                    p.key.as_ref().map_or_else(
                        || format!(
                            "{} (made at the daemon's first start)",
                            p.settings.device_key_name()
                        ),
                        |k| k.describe().to_owned()
                    )
                ),
            });
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

/// Prints how an install or a resume ended, in mender-update's words, and gives its exit code.
fn report_outcome(outcome: InstallOutcome, reboot_exit_code: bool) -> u8 {
    let (reboot, text) = match outcome {
        InstallOutcome::Committed { reboot } => (reboot, "Installed and committed.".to_owned()),
        InstallOutcome::Pending { reboot } => (
            reboot,
            "Installed, but not committed.\nUse 'commit' to update, or 'rollback' to roll back \
             the update."
                .to_owned(),
        ),
        InstallOutcome::Stopped {
            before: StopState::ArtifactInstallEnter,
            ..
        } => (
            RebootNeed::No,
            "Streamed to storage, but not installed/enabled.\nUse 'resume' to install it, or \
             'rollback' to drop it."
                .to_owned(),
        ),
        InstallOutcome::Stopped { before, reboot } => (
            reboot,
            format!("Stopped before {before}; 'resume' carries on."),
        ),
        InstallOutcome::RolledBack => (RebootNeed::No, "Rolled back.".to_owned()),
    };
    println!("{text}");
    if reboot != RebootNeed::No {
        println!("At least one payload requested a reboot of the device it updated.");
        if reboot_exit_code {
            return exit::REBOOT_REQUIRED;
        }
    }
    exit::OK
}

/// `--allow-downgrade`: root only, and logged before anything is read, whether or not the
/// artifact turns out to be a downgrade.
fn allow_downgrade(ctx: &mut crate::install::context::InstallContext) -> Result<(), Error> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot("--allow-downgrade"));
    }
    let by = std::env::var("SUDO_USER").unwrap_or_else(|_| "root".to_owned());
    tracing::warn!(
        by = %by,
        "install --allow-downgrade: the downgrade floor does not apply to this install"
    );
    ctx.allow_downgrade = true;
    Ok(())
}

/// At the first start (no artifact installed yet), `<datastore>/bootstrap.mender` is installed
/// before the requested artifact, as the daemon does; a refused one is reported and left alone.
fn first_start_bootstrap(
    settings: &Settings,
    ctx: &crate::install::context::InstallContext,
    requested: &std::path::Path,
) -> Result<(), Error> {
    let path = crate::install::bootstrap::bootstrap_path(ctx);
    let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if same(requested, &path) {
        // Installing the bootstrap artifact itself: the requested install is the bootstrap.
        return Ok(());
    }
    let accept_unsigned = settings.gate()?.update.accept_unsigned_bootstrap;
    let done = crate::install::bootstrap::install_bootstrap(ctx, accept_unsigned);
    if let Some(line) = done.describe() {
        eprintln!("artifact-gate: {line}");
    }
    Ok(())
}

/// One stderr line per configured verify key that is not used, on every verdict.
fn warn_broken_keys(broken: &[crate::keys::load::BrokenKey]) {
    for key in broken {
        eprintln!("artifact-gate: warning: verify key not used: {key}");
    }
}

fn verify_input(
    settings: &Settings,
    artifact: &std::path::Path,
    options: &ReadOptions,
) -> Result<VerifiedArtifact, Error> {
    let input = settings.open_input(artifact)?;
    let verified = artifact::read_artifact(input, options, &mut DiscardSink)?;
    if let Trust::Verified { key, scheme, .. } = &verified.trust() {
        tracing::info!(key = %key, scheme = scheme.name(), "manifest signature verified");
    }
    Ok(verified)
}
