//! Bootstrap artifacts (spec §5.6): `<datastore>/bootstrap.mender`, which carries a device's
//! initial provides (Yocto images ship one), installed at the first start — when no artifact is
//! recorded as installed yet — and then removed.
//!
//! Mender 4/5 installs it with the signature check skipped. Here it verifies like any other
//! artifact. An unsigned one while keys are configured is refused, and left in place with a
//! clear log line, unless `[update] accept_unsigned_bootstrap = true` is set; even then only an
//! empty payload (provides and nothing else) is accepted, read once into memory so the bytes
//! checked are the bytes installed.

use std::io::Read;
use std::path::PathBuf;

use super::context::{InstallContext, InstallError, InstallOutcome};
use super::flow;
use crate::artifact::{self, DiscardSink, PayloadType, ReadError, ReadOptions, Rejection};
use crate::policy::DeviceFacts;
use crate::signature::{ManifestRejection, SignatureError, SignaturePolicy};
use crate::state::store::Store;

/// An unsigned empty-payload artifact is a few KiB; anything larger is not one.
const UNSIGNED_BOOTSTRAP_LIMIT: u64 = 1024 * 1024;

/// What the first-start check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// An artifact is installed already: not the first start.
    NotFirstStart,
    /// There is no `bootstrap.mender`.
    Absent,
    /// Installed and removed.
    Installed {
        /// Its `artifact_name`.
        artifact_name: String,
        /// Whether it waits for commit (a module payload that supports rollback).
        pending: bool,
    },
    /// Refused; the file stays where it is.
    Refused {
        /// Why, in words.
        reason: String,
    },
}

impl Bootstrap {
    /// One log line for what happened, or `None` when there was nothing to do.
    pub fn describe(&self) -> Option<String> {
        let what = "the bootstrap artifact";
        match self {
            Self::NotFirstStart | Self::Absent => None,
            Self::Installed {
                artifact_name,
                pending: false,
            } => Some(format!(
                "{what} {} is installed (first start)",
                crate::error::escape::quoted(artifact_name)
            )),
            Self::Installed {
                artifact_name,
                pending: true,
            } => Some(format!(
                "{what} {} is installed and waits for commit (first start)",
                crate::error::escape::quoted(artifact_name)
            )),
            Self::Refused { reason } => {
                Some(format!("{what} was refused and left in place: {reason}"))
            }
        }
    }
}

/// `<datastore>/bootstrap.mender`.
pub fn bootstrap_path(ctx: &InstallContext) -> PathBuf {
    ctx.paths.datastore_dir.join("bootstrap.mender")
}

/// Installs `bootstrap.mender` if this is the first start and the file exists.
pub fn install_bootstrap(ctx: &InstallContext, accept_unsigned: bool) -> Bootstrap {
    let store = Store::new(&ctx.paths.datastore_dir);
    match store.provides() {
        Ok(p) if p.artifact_name.is_some() => return Bootstrap::NotFirstStart,
        Ok(_) => {}
        Err(e) => {
            return Bootstrap::Refused {
                reason: e.to_string(),
            };
        }
    }
    let path = bootstrap_path(ctx);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Bootstrap::Absent,
        Err(e) => {
            return Bootstrap::Refused {
                reason: format!("cannot open {}: {e}", path.display()),
            };
        }
    };
    let result = match flow::install(file, ctx) {
        Err(e) if is_unsigned(&e) && accept_unsigned => install_unsigned(ctx, &path),
        Err(e) if is_unsigned(&e) => Err(format!(
            "{e}; set [update] accept_unsigned_bootstrap = true to accept an unsigned \
             bootstrap artifact with an empty payload"
        )),
        other => other.map_err(|e| e.to_string()),
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(reason) => return Bootstrap::Refused { reason },
    };
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!("installed {}, but cannot remove it: {e}", path.display());
    }
    let pending = matches!(outcome, InstallOutcome::Pending { .. });
    // The name as recorded: committed provides, or the install waiting for commit.
    let artifact_name = if pending {
        store
            .pending()
            .ok()
            .flatten()
            .map(|p| p.claims.artifact_name)
    } else {
        store.provides().ok().and_then(|p| p.artifact_name)
    };
    Bootstrap::Installed {
        artifact_name: artifact_name.unwrap_or_default(),
        pending,
    }
}

/// `accept_unsigned_bootstrap`: the file is read once, checked to be an empty payload, and the
/// same bytes are installed without a signature.
fn install_unsigned(
    ctx: &InstallContext,
    path: &std::path::Path,
) -> Result<InstallOutcome, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(UNSIGNED_BOOTSTRAP_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > UNSIGNED_BOOTSTRAP_LIMIT {
        return Err(format!(
            "it is unsigned and larger than {UNSIGNED_BOOTSTRAP_LIMIT} bytes, so it is not an \
             empty-payload artifact (accept_unsigned_bootstrap accepts only those)"
        ));
    }
    let mut unsigned = ctx.clone();
    unsigned.signature = SignaturePolicy::DangerAllowUnsigned;
    let options = ReadOptions {
        signature: SignaturePolicy::DangerAllowUnsigned,
        device: DeviceFacts::default(),
        limits: ctx.limits.clone(),
        expect_manifest_sha256: None,
    };
    let read = artifact::read_artifact(&bytes[..], &options, &mut DiscardSink)
        .map_err(|e| e.to_string())?;
    if let PayloadType::Named(kind) = &read.header().payload_type() {
        return Err(format!(
            "it is unsigned and carries a {} payload; accept_unsigned_bootstrap accepts only an \
             empty payload",
            crate::error::escape::quoted(kind)
        ));
    }
    tracing::warn!(
        "installing the unsigned bootstrap artifact {} (accept_unsigned_bootstrap = true; empty \
         payload)",
        crate::error::escape::quoted(&read.header().artifact_name())
    );
    flow::install(&bytes[..], &unsigned).map_err(|e| e.to_string())
}

fn is_unsigned(e: &InstallError) -> bool {
    matches!(
        e,
        InstallError::Read(ReadError::Rejected(Rejection::Manifest(
            ManifestRejection::Signature(SignatureError::Unsigned)
        )))
    )
}
