//! The trust decision: `manifest.sig` checked against the configured keys, giving the only way
//! to obtain a [`VerifiedManifest`].
//!
//! Spec §3: the signature covers SHA-256 of the raw `manifest` bytes exactly as stored (C++
//! client semantics, spec §12.1); the manifest is parsed only after that check. `manifest.sig` is
//! standard base64 on one line; one trailing newline is tolerated (Go tolerates any line breaks,
//! the C++ client none; a newline-terminated file is the common hand-made mistake).

pub mod key;
pub mod scheme;

use base64::Engine;
use thiserror::Error;

pub use key::{KeyError, KeyVerifyFailure, PublicKey, Scheme};

use crate::artifact::manifest::{Manifest, ManifestError};
use crate::stream::{Sha256Digest, sha256};

/// A key the operator trusts, with the label (usually its file path) used in messages.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key exactly as configured (mender.conf entry or `-k`), which `[[policy.key]]`
    /// scopes name.
    pub entry: String,
    /// Where the key came from, for messages.
    pub label: String,
    /// The key.
    pub key: PublicKey,
}

/// The trusted keys, tried in order; the first that verifies wins (spec §7.1).
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<TrustedKey>,
    revoked: Vec<Sha256Digest>,
    scopes: Vec<KeyScope>,
}

/// What one key may sign (`[[policy.key]]`, issue #16): glob patterns; an empty list does not
/// restrict. Checked against the verified header, before any payload byte is used.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyScope {
    /// The key exactly as mender.conf or `-k` gives it.
    pub key: String,
    /// Payload types (`rootfs-image`, `single-file`, …).
    #[serde(default)]
    pub payload_types: Vec<String>,
    /// Device types; every type the artifact names must match one.
    #[serde(default)]
    pub device_types: Vec<String>,
    /// Artifact names.
    #[serde(default)]
    pub artifact_names: Vec<String>,
}

impl KeyScope {
    /// In words, for the verdict and refusals.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, list) in [
            ("payload types", &self.payload_types),
            ("device types", &self.device_types),
            ("artifact names", &self.artifact_names),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(", ")));
            }
        }
        if parts.is_empty() {
            "anything".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// `sha256:<hex>`, as `read` prints a key's fingerprint and `[policy] revoked_keys` lists it.
pub fn fingerprint_text(digest: &Sha256Digest) -> String {
    format!("sha256:{}", hex::encode(digest))
}

impl KeyRing {
    /// A key ring; `None` when `keys` is empty, since an empty ring would verify nothing.
    pub fn new(keys: Vec<TrustedKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self {
            keys,
            revoked: Vec::new(),
            scopes: Vec::new(),
        })
    }

    /// The ring with these scopes (a key with none is unrestricted).
    pub fn with_scopes(mut self, scopes: Vec<KeyScope>) -> Self {
        self.scopes = scopes;
        self
    }

    /// The ring with these key fingerprints revoked (issue #16): a signature by such a key
    /// is refused, even though the key is still configured.
    pub fn with_revoked(mut self, revoked: Vec<Sha256Digest>) -> Self {
        self.revoked = revoked;
        self
    }

    /// The keys in trial order.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }
}

/// Whether a signature is demanded.
#[derive(Debug, Clone)]
pub enum SignaturePolicy {
    /// The manifest must carry a signature that one of these keys verifies.
    Required(KeyRing),
    /// DANGER: no key is configured and the operator explicitly accepted unsigned artifacts.
    /// Every checksum is still verified against the (unauthenticated) manifest, which proves
    /// integrity against corruption but nothing about who made the artifact.
    DangerAllowUnsigned,
}

/// How far the manifest is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A configured key verified the signature.
    Verified {
        /// Label of the key that verified.
        key: String,
        /// Which signature scheme matched.
        scheme: Scheme,
        /// The key's fingerprint (`sha256:<hex>`), when it can be computed.
        fingerprint: Option<String>,
        /// The key's scope, when `[[policy.key]]` restricts it.
        scope: Option<KeyScope>,
    },
    /// DANGER: accepted under [`SignaturePolicy::DangerAllowUnsigned`]; `signed` says whether
    /// the artifact carried a signature nobody checked.
    DangerUnverified {
        /// The artifact had a `manifest.sig`.
        signed: bool,
    },
}

/// A manifest whose signature passed the policy. Only [`verify_manifest`] builds one.
#[derive(Debug, Clone)]
pub struct VerifiedManifest {
    manifest: Manifest,
    trust: Trust,
    raw_digest: Sha256Digest,
}

impl VerifiedManifest {
    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// How it was trusted.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// SHA-256 of the raw manifest bytes (what the signature covers).
    pub fn raw_digest(&self) -> &Sha256Digest {
        &self.raw_digest
    }
}

/// Why the signature check refused an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// Keys are configured but the artifact has no `manifest.sig`.
    #[error("artifact is not signed (no manifest.sig), but verification keys are configured")]
    Unsigned,
    /// `manifest.sig` is not valid base64.
    #[error("manifest.sig is not valid standard base64: {0}")]
    BadBase64(String),
    /// `manifest.sig` is empty.
    #[error("manifest.sig is empty")]
    Empty,
    /// The key that verified the signature is revoked (`[policy] revoked_keys`).
    #[error(
        "the signature is by key '{key}' ({fingerprint}), which is revoked in [policy] \
         revoked_keys"
    )]
    Revoked {
        /// The key's label.
        key: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// No configured key verified the signature; one reason per key.
    #[error("no configured key verifies the manifest signature: {}", describe(.0))]
    NoKeyVerified(Vec<(String, KeyVerifyFailure)>),
}

/// Refusal from [`verify_manifest`]: the signature or the manifest syntax.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestRejection {
    /// The signature check failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The (authentic) manifest does not parse.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Checks the signature over `raw_manifest`, then parses it (spec §7.3 steps 2–3).
///
/// # Security
/// Nothing from the manifest is interpreted before the signature has passed the policy.
pub fn verify_manifest(
    raw_manifest: &[u8],
    signature: Option<&[u8]>,
    policy: &SignaturePolicy,
    max_lines: usize,
    max_name_len: usize,
) -> Result<VerifiedManifest, ManifestRejection> {
    let raw_digest = sha256(raw_manifest);
    let trust = match (policy, signature) {
        (SignaturePolicy::Required(_), None) => return Err(SignatureError::Unsigned.into()),
        (SignaturePolicy::Required(ring), Some(sig)) => {
            let sig = decode_signature(sig)?;
            let mut failures = Vec::new();
            let mut verified = None;
            for trusted in ring.keys() {
                match trusted.key.verify(raw_manifest, &raw_digest, &sig) {
                    Ok(scheme) => {
                        let fingerprint = trusted.key.fingerprint();
                        if let Some(print) = fingerprint.filter(|f| ring.revoked.contains(f)) {
                            return Err(SignatureError::Revoked {
                                key: trusted.label.clone(),
                                fingerprint: fingerprint_text(&print),
                            }
                            .into());
                        }
                        verified = Some(Trust::Verified {
                            key: trusted.label.clone(),
                            scheme,
                            fingerprint: fingerprint.as_ref().map(fingerprint_text),
                            scope: ring.scopes.iter().find(|s| s.key == trusted.entry).cloned(),
                        });
                        break;
                    }
                    Err(why) => failures.push((trusted.label.clone(), why)),
                }
            }
            verified.ok_or(SignatureError::NoKeyVerified(failures))?
        }
        (SignaturePolicy::DangerAllowUnsigned, sig) => Trust::DangerUnverified {
            signed: sig.is_some(),
        },
    };
    let manifest = Manifest::parse(raw_manifest, max_lines, max_name_len)?;
    Ok(VerifiedManifest {
        manifest,
        trust,
        raw_digest,
    })
}

/// Decodes `manifest.sig`: standard base64, canonical padding, one optional trailing `\n`.
pub fn decode_signature(text: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    if body.is_empty() {
        return Err(SignatureError::Empty);
    }
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| SignatureError::BadBase64(e.to_string()))
}

fn describe(failures: &[(String, KeyVerifyFailure)]) -> String {
    failures
        .iter()
        .map(|(label, why)| format!("key '{label}': {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_base64_tolerates_exactly_one_newline() {
        assert_eq!(decode_signature(b"AAEC").unwrap(), [0, 1, 2]);
        assert_eq!(decode_signature(b"AAEC\n").unwrap(), [0, 1, 2]);
        assert!(matches!(
            decode_signature(b"AAEC\n\n"),
            Err(SignatureError::BadBase64(_))
        ));
        assert!(matches!(
            decode_signature(b"AA EC"),
            Err(SignatureError::BadBase64(_))
        ));
        assert!(matches!(
            decode_signature(b"AAE"),
            Err(SignatureError::BadBase64(_))
        ));
        assert_eq!(decode_signature(b"\n"), Err(SignatureError::Empty));
    }

    #[test]
    fn unsigned_artifact_is_refused_when_keys_exist() {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&[
            215, 90, 152, 1, 130, 177, 10, 183, 213, 75, 254, 211, 201, 100, 7, 58, 14, 225, 114,
            243, 218, 166, 35, 37, 175, 2, 26, 104, 247, 7, 81, 26,
        ])
        .unwrap();
        let ring = KeyRing::new(vec![TrustedKey {
            entry: String::new(),
            label: "k".into(),
            key: PublicKey::Ed25519(key),
        }])
        .unwrap();
        let err =
            verify_manifest(b"x", None, &SignaturePolicy::Required(ring), 10, 255).unwrap_err();
        assert_eq!(err, ManifestRejection::Signature(SignatureError::Unsigned));
    }

    #[test]
    fn empty_key_ring_is_not_a_ring() {
        assert!(KeyRing::new(Vec::new()).is_none());
    }
}
