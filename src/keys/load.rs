//! Loading the trusted keys a configuration or the command line names: key files (PEM keys or
//! certificates) and `pkcs11:` URIs opened in their token. A configured list keeps its usable
//! entries and names the others ([`BrokenKey`]); keys named on the command line must all load.

use std::path::Path;

use crate::config::mender_conf::{ConfigError, read_small_file};
use crate::keys::uri::Pkcs11Uri;
use crate::signature::{KeyRing, PublicKey, TrustedKey};

/// A configured verify key that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenKey {
    /// The entry as configured (a `pkcs11:` URI with any PIN hidden).
    pub entry: String,
    /// Why it cannot be used.
    pub reason: String,
}

impl std::fmt::Display for BrokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)
    }
}

/// The keys of a configured key list that can be used, and those that cannot.
#[derive(Debug, Clone)]
pub struct LoadedKeys {
    /// The usable keys, in list order (`None` when the list is empty).
    pub ring: Option<KeyRing>,
    /// Every entry that cannot be used, with its reason.
    pub broken: Vec<BrokenKey>,
}

/// Reads and decodes every key file, and opens every `pkcs11:` key in its token; any failure is
/// an error (for keys an operator named on the command line, and `check-config`).
pub fn load_keys(paths: &[String]) -> Result<Option<KeyRing>, ConfigError> {
    let keys = paths
        .iter()
        .map(|path| load_key(path))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeyRing::new(keys))
}

/// Loads a configured key list (`ArtifactVerifyKeys`), keeping every entry that can be used and
/// naming every one that cannot. Verifying with fewer trusted keys is never weaker verification,
/// so one stale entry must not stop every update; with entries configured and none usable it is
/// [`ConfigError::NoUsableKey`], never "no key" (which could mean unsigned artifacts pass).
pub fn load_key_list(paths: &[String]) -> Result<LoadedKeys, ConfigError> {
    let mut keys = Vec::with_capacity(paths.len());
    let mut broken = Vec::new();
    for path in paths {
        match load_key(path) {
            Ok(key) => keys.push(key),
            Err(e) => broken.push(BrokenKey {
                entry: redacted_entry(path),
                reason: e.to_string(),
            }),
        }
    }
    if keys.is_empty() && !broken.is_empty() {
        return Err(ConfigError::NoUsableKey(broken));
    }
    Ok(LoadedKeys {
        ring: KeyRing::new(keys),
        broken,
    })
}

/// A key entry as messages show it: a `pkcs11:` URI only up to its first attribute separator
/// (its attributes may hold a PIN).
fn redacted_entry(entry: &str) -> String {
    if Pkcs11Uri::is_uri(entry) {
        match Pkcs11Uri::parse(entry) {
            Ok(uri) => uri.to_string(),
            Err(_) => entry
                .split(['?', ';'])
                .next()
                .unwrap_or("pkcs11:")
                .to_owned(),
        }
    } else {
        entry.to_owned()
    }
}

/// One key file, or one `pkcs11:` key opened in its token.
fn load_key(path: &str) -> Result<TrustedKey, ConfigError> {
    if Pkcs11Uri::is_uri(path) {
        return open_token_key(path);
    }
    let bytes = read_small_file(Path::new(path)).map_err(|source| ConfigError::KeyRead {
        path: path.to_owned(),
        source,
    })?;
    let key = PublicKey::from_file_bytes(&bytes).map_err(|source| ConfigError::Key {
        path: path.to_owned(),
        source,
    })?;
    Ok(TrustedKey {
        entry: path.to_owned(),
        label: path.to_owned(),
        key,
    })
}

/// A `pkcs11:` key: parsed, then found in its token (issue #7). Messages show the URI with any
/// `pin-value` hidden.
fn open_token_key(text: &str) -> Result<TrustedKey, ConfigError> {
    let uri = Pkcs11Uri::parse(text).map_err(|source| ConfigError::KeyUri {
        // The URI as typed may hold a PIN; show only its start.
        uri: text
            .split(['?', ';'])
            .next()
            .unwrap_or("pkcs11:")
            .to_owned(),
        source,
    })?;
    #[cfg(feature = "pkcs11")]
    {
        let key =
            crate::keys::token::TokenKey::open(&uri).map_err(|source| ConfigError::Token {
                uri: uri.to_string(),
                source,
            })?;
        // The label says where verification runs (on the token, or in software with the value
        // read out of it), so every "verified with key …" line tells the operator.
        Ok(TrustedKey {
            entry: text.to_owned(),
            label: key.describe(),
            key: PublicKey::Token(std::sync::Arc::new(key)),
        })
    }
    #[cfg(not(feature = "pkcs11"))]
    Err(ConfigError::Key {
        path: uri.to_string(),
        source: crate::signature::KeyError::Pkcs11Unavailable,
    })
}
