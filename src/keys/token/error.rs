//! Why a token key could not be opened or used.

use std::path::PathBuf;

use cryptoki::error::Error as CkError;
use thiserror::Error;

/// Why a token key could not be opened.
#[derive(Debug, Error)]
pub enum TokenError {
    /// `module-name` not found in the standard directories.
    #[error("PKCS#11 module '{name}' not found (looked in {looked})")]
    ModuleNotFound {
        /// The name.
        name: String,
        /// The directories searched.
        looked: String,
    },
    /// The library could not be loaded or initialised.
    #[error("PKCS#11 module {path}: {detail}")]
    Module {
        /// Library path.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No token matched.
    #[error("no token matches {wanted} (tokens present: {present})")]
    TokenNotFound {
        /// The token attributes asked for.
        wanted: String,
        /// Labels of the tokens present.
        present: String,
    },
    /// More than one token matched.
    #[error("{count} tokens match {wanted}; add token=, serial= or model= to choose one")]
    AmbiguousToken {
        /// The token attributes asked for.
        wanted: String,
        /// How many matched.
        count: usize,
    },
    /// The PIN file could not be read.
    #[error("PIN file {path}: {detail}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// Login refused.
    #[error("login to token '{token}' failed: {detail}")]
    Login {
        /// Token label.
        token: String,
        /// Why.
        detail: String,
    },
    /// The token wants a login and no PIN is configured.
    #[error(
        "token '{token}' requires a user login to verify; add pin-source=file:<path> (or \
         pin-value=) to the URI"
    )]
    NeedsLogin {
        /// Token label.
        token: String,
    },
    /// No key object matched.
    #[error("no {kind} matching {wanted} on token '{token}'")]
    ObjectNotFound {
        /// `public key` or `private key`.
        kind: &'static str,
        /// The object attributes asked for.
        wanted: String,
        /// Token label.
        token: String,
    },
    /// More than one object matched.
    #[error("{count} {kind}s match {wanted} on token '{token}'; the URI must name one key")]
    AmbiguousObject {
        /// `public key` or `private key`.
        kind: &'static str,
        /// The object attributes asked for.
        wanted: String,
        /// Token label.
        token: String,
        /// How many matched.
        count: usize,
    },
    /// A key we cannot verify with (type, curve, size).
    #[error("unusable key on token '{token}': {detail}")]
    Unusable {
        /// Token label.
        token: String,
        /// Why.
        detail: String,
    },
    /// Any other PKCS#11 failure.
    #[error("token '{token}': {what}: {source}")]
    Pkcs11 {
        /// Token label (or the module when no token was chosen yet).
        token: String,
        /// What was being done.
        what: &'static str,
        /// The PKCS#11 error.
        source: CkError,
    },
}
