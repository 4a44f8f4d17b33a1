//! Verify keys held in a PKCS#11 token or a TPM (issue #7), named by a `pkcs11:` URI.
//!
//! Opening a key does everything that can fail for configuration reasons, so that a bad key is
//! a configuration error before any artifact is read, never "no verification": the module is
//! loaded (once per process, shared by every key it serves), the token is found by its label
//! (and manufacturer, model, serial when given), the user logs in when a PIN is configured, and
//! exactly one public-key object must match. A probe `C_Verify` then shows whether the token
//! lets us verify at all (tpm2-pkcs11 wants a login even for that).
//!
//! Signatures are checked **on the token** with `C_Verify`: `CKM_SHA256_RSA_PKCS` (then
//! `CKM_SHA256_RSA_PKCS_PSS`) over the manifest, `CKM_ECDSA` over its SHA-256 with the signature
//! converted to raw r‖s, `CKM_EDDSA` over the manifest or its digest. Where the token does not
//! offer the mechanism, the public value read out of the token is used in software instead; the
//! key's label says which path checked it.

mod error;
mod find;
mod login;
mod module;
mod signer;

use std::fmt;
use std::sync::Mutex;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::types::Ulong;

use crate::keys::uri::Pkcs11Uri;
use crate::signature::key::{KeyVerifyFailure, PublicKey, Scheme};
use crate::signature::scheme::{KeyAlgorithm, SchemeCheck, ecdsa_signature};
use crate::stream::Sha256Digest;
use find::{describe_key, find_key, find_token};
use login::login;
use module::{context, resolve_module};

pub use error::TokenError;
pub use signer::TokenSigner;

/// A public key in a token, with the session that reaches it.
pub struct TokenKey {
    uri: String,
    token: String,
    session: Mutex<Session>,
    handle: ObjectHandle,
    kind: KeyAlgorithm,
    mechanisms: Vec<MechanismType>,
    /// The key read out of the token, for mechanisms the token lacks.
    software: Option<PublicKey>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("uri", &self.uri)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A read-only session on the token a URI names, logged in when the URI gives a PIN: what
/// opening a verify key and a signing key share.
pub(super) struct Opened {
    pub(super) ctx: cryptoki::context::Pkcs11,
    pub(super) slot: cryptoki::slot::Slot,
    pub(super) session: Session,
    /// The token's label.
    pub(super) token: String,
}

impl Opened {
    pub(super) fn new(uri: &Pkcs11Uri) -> Result<Self, TokenError> {
        let module = resolve_module(&uri.module)?;
        let ctx = context(&module)?;
        let slot = find_token(&ctx, uri, &module)?;
        let token = ctx
            .get_token_info(slot)
            .map(|i| i.label().trim_end().to_owned())
            .unwrap_or_default();
        let session = ctx
            .open_ro_session(slot)
            .map_err(|source| TokenError::Pkcs11 {
                token: token.clone(),
                what: "open session",
                source,
            })?;
        if let Some(pin) = &uri.pin {
            login(&session, pin, &token)?;
        }
        Ok(Self {
            ctx,
            slot,
            session,
            token,
        })
    }
}

impl TokenKey {
    /// Finds the key `uri` names; every failure is a configuration error (fail closed).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, TokenError> {
        let Opened {
            ctx,
            slot,
            session,
            token,
        } = Opened::new(uri)?;
        let handle = find_key(&session, uri, &token)?;
        let (kind, software) = describe_key(&session, handle, &token)?;
        // Asked one by one: listing them all makes cryptoki log every vendor mechanism it
        // does not know.
        let mechanisms = [
            MechanismType::SHA256_RSA_PKCS,
            MechanismType::SHA256_RSA_PKCS_PSS,
            MechanismType::ECDSA,
            MechanismType::EDDSA,
        ]
        .into_iter()
        .filter(|m| ctx.get_mechanism_info(slot, *m).is_ok())
        .collect();
        let key = Self {
            uri: uri.to_string(),
            token,
            session: Mutex::new(session),
            handle,
            kind,
            mechanisms,
            software,
        };
        key.probe(uri.pin.is_some())?;
        Ok(key)
    }

    /// The URI (PIN hidden) and where verification runs.
    pub fn describe(&self) -> String {
        let algorithm = self.algorithm();
        if self.on_token() {
            format!("{} ({algorithm}, verified on the token)", self.uri)
        } else {
            format!(
                "{} ({algorithm}, verified in software with the key read from the token)",
                self.uri
            )
        }
    }

    /// The public key as read out of the token, when the token lets it be read.
    pub fn software_key(&self) -> Option<&PublicKey> {
        self.software.as_ref()
    }

    /// Short algorithm name.
    pub fn algorithm(&self) -> &'static str {
        self.kind.name()
    }

    /// The key's algorithm, for the scheme table.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.kind
    }

    /// Whether the token offers the mechanism this key needs.
    fn on_token(&self) -> bool {
        let needed = match self.kind {
            KeyAlgorithm::Rsa { .. } => MechanismType::SHA256_RSA_PKCS,
            KeyAlgorithm::EcdsaP256 => MechanismType::ECDSA,
            KeyAlgorithm::Ed25519 => MechanismType::EDDSA,
        };
        self.mechanisms.contains(&needed)
    }

    /// One scheme of the table ([`crate::signature::scheme`]): on the token with the matching
    /// mechanism (`C_Verify`), or in software with the key read out of it when the token lacks
    /// the mechanism this key needs.
    pub(crate) fn check(
        &self,
        scheme: Scheme,
        message: &[u8],
        digest: &Sha256Digest,
        signature: &[u8],
    ) -> Result<bool, KeyVerifyFailure> {
        if !self.on_token() {
            return match &self.software {
                Some(key) => SchemeCheck::check(key, scheme, message, digest, signature),
                None => Err(self.token_failure("the token offers no mechanism for this key")),
            };
        }
        let digest: &[u8] = digest.as_ref();
        let eddsa = || Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        match scheme {
            Scheme::RsaPkcs1v15 => {
                self.check_on_token(&Mechanism::Sha256RsaPkcs, message, signature)
            }
            Scheme::RsaPss => {
                let pss = Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: Ulong::from(32),
                });
                let offered = self
                    .mechanisms
                    .contains(&MechanismType::SHA256_RSA_PKCS_PSS);
                Ok(offered && self.check_on_token(&pss, message, signature)?)
            }
            // CKM_ECDSA takes r‖s over the digest.
            Scheme::EcdsaRaw | Scheme::EcdsaDer => match ecdsa_signature(scheme, signature) {
                Some(sig) => self.check_on_token(&Mechanism::Ecdsa, digest, &sig.to_bytes()),
                None => Ok(false),
            },
            Scheme::Ed25519 => self.check_on_token(&eddsa(), message, signature),
            Scheme::Ed25519OverDigest => self.check_on_token(&eddsa(), digest, signature),
        }
    }

    /// One `C_Verify`: `Ok(true)` valid, `Ok(false)` a signature of other bytes or another key,
    /// `Err` the token failed (which rejects the artifact: nothing passes unchecked).
    fn check_on_token(
        &self,
        mechanism: &Mechanism<'_>,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyVerifyFailure> {
        let session = self
            .session
            .lock()
            .map_err(|_| self.token_failure("session lock poisoned"))?;
        match session.verify(mechanism, self.handle, data, signature) {
            Ok(()) => Ok(true),
            Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                Ok(false)
            }
            Err(e) => Err(self.token_failure(&e.to_string())),
        }
    }

    /// A verification of garbage: the token must answer "invalid signature", which proves the
    /// key is usable; "not logged in" becomes a configuration error now rather than a rejected
    /// artifact later.
    fn probe(&self, has_pin: bool) -> Result<(), TokenError> {
        if !self.on_token() {
            return match self.software {
                Some(_) => Ok(()),
                None => Err(TokenError::Unusable {
                    token: self.token.clone(),
                    detail: "the token offers no mechanism for this key and its public value \
                             cannot be read out"
                        .to_owned(),
                }),
            };
        }
        let (mechanism, len) = match self.kind {
            KeyAlgorithm::Rsa { modulus_len } => (Mechanism::Sha256RsaPkcs, modulus_len),
            KeyAlgorithm::EcdsaP256 => (Mechanism::Ecdsa, 64),
            KeyAlgorithm::Ed25519 => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                64,
            ),
        };
        let data = [0u8; 32];
        let signature = vec![1u8; len];
        let session = self.session.lock().map_err(|_| TokenError::Unusable {
            token: self.token.clone(),
            detail: "session lock poisoned".to_owned(),
        })?;
        match session.verify(&mechanism, self.handle, &data, &signature) {
            Ok(())
            | Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                Ok(())
            }
            Err(CkError::Pkcs11(RvError::UserNotLoggedIn, _)) if !has_pin => {
                Err(TokenError::NeedsLogin {
                    token: self.token.clone(),
                })
            }
            Err(source) => Err(TokenError::Pkcs11 {
                token: self.token.clone(),
                what: "test verification",
                source,
            }),
        }
    }

    fn token_failure(&self, detail: &str) -> KeyVerifyFailure {
        KeyVerifyFailure::Token {
            detail: format!("token '{}': {detail}", self.token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::find::{unpad, unwrap_octet_string};

    #[test]
    fn octet_string_wrappers_are_removed_and_bare_points_kept() {
        let mut wrapped = vec![0x04, 0x41, 0x04];
        wrapped.extend([7u8; 64]);
        assert_eq!(unwrap_octet_string(&wrapped).len(), 65);
        let ed = [&[0x04, 0x20][..], &[9u8; 32]].concat();
        assert_eq!(unwrap_octet_string(&ed), &[9u8; 32]);
        // An uncompressed point without wrapper starts with 04 too, but its length byte does
        // not match.
        let mut bare = vec![0x04];
        bare.extend([7u8; 64]);
        assert_eq!(unwrap_octet_string(&bare), &bare[..]);
    }

    #[test]
    fn unpadding_strips_spaces_and_nuls_only_at_the_end() {
        assert_eq!(unpad("SW   TPM\0\0\0"), "SW   TPM");
        assert_eq!(unpad("upd-keys    "), "upd-keys");
    }
}
