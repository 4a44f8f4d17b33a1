//! A key pair in a token that signs (the Mender agent's device key, `[server] device_key`):
//! the private key is used with `C_Sign` and never leaves the token; the public key object of
//! the same label and id gives the `pubkey` the server knows the device by.
//!
//! Mechanisms: `CKM_SHA256_RSA_PKCS` over the message; `CKM_ECDSA` over its SHA-256, the raw
//! r‖s turned into the ASN.1 form deviceauth expects; `CKM_EDDSA` over the message.

use std::sync::Mutex;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use rsa::pkcs8::EncodePublicKey;
use sha2::Digest;

use super::find::{describe_key, find_key, find_object};
use super::{Opened, TokenError};
use crate::keys::uri::Pkcs11Uri;
use crate::signature::key::PublicKey;
use crate::signature::scheme::KeyAlgorithm;

/// A signing key in a token.
pub struct TokenSigner {
    token: String,
    session: Mutex<Session>,
    private: ObjectHandle,
    kind: KeyAlgorithm,
    public_der: Vec<u8>,
}

impl TokenSigner {
    /// Finds the private and public key objects `uri` names and logs in (signing needs the
    /// PIN).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, TokenError> {
        let Opened { session, token, .. } = Opened::new(uri)?;
        if uri.pin.is_none() {
            return Err(TokenError::NeedsLogin { token });
        }
        let public = find_key(&session, uri, &token)?;
        let (kind, software) = describe_key(&session, public, &token)?;
        let unusable = |detail: &str| TokenError::Unusable {
            token: token.clone(),
            detail: detail.to_owned(),
        };
        let public_der = match software {
            Some(PublicKey::Rsa(k)) => k.to_public_key_der().map(|d| d.into_vec()),
            Some(PublicKey::EcdsaP256(k)) => k.to_public_key_der().map(|d| d.into_vec()),
            Some(PublicKey::Ed25519(k)) => k.to_public_key_der().map(|d| d.into_vec()),
            _ => return Err(unusable("the public key's value cannot be read out")),
        }
        .map_err(|e| unusable(&e.to_string()))?;
        let private = find_object(&session, uri, &token, ObjectClass::PRIVATE_KEY)?;
        Ok(Self {
            token,
            session: Mutex::new(session),
            private,
            kind,
            public_der,
        })
    }

    /// The public key's SubjectPublicKeyInfo DER.
    pub fn public_spki_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Short algorithm name.
    pub fn algorithm(&self) -> &'static str {
        self.kind.name()
    }

    /// Signs `message` as deviceauth checks it.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, TokenError> {
        let session = self.session.lock().map_err(|_| TokenError::Unusable {
            token: self.token.clone(),
            detail: "session lock poisoned".to_owned(),
        })?;
        let failed = |source| TokenError::Pkcs11 {
            token: self.token.clone(),
            what: "sign",
            source,
        };
        match self.kind {
            KeyAlgorithm::Rsa { .. } => session
                .sign(&Mechanism::Sha256RsaPkcs, self.private, message)
                .map_err(failed),
            KeyAlgorithm::EcdsaP256 => {
                let digest = sha2::Sha256::digest(message);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.private, &digest)
                    .map_err(failed)?;
                let signature =
                    p256::ecdsa::Signature::from_slice(&raw).map_err(|e| TokenError::Unusable {
                        token: self.token.clone(),
                        detail: format!("the token's ECDSA signature is not r‖s: {e}"),
                    })?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            KeyAlgorithm::Ed25519 => session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    self.private,
                    message,
                )
                .map_err(failed),
        }
    }
}
