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

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use thiserror::Error;

use crate::keys::uri::{ModuleRef, PinRef, Pkcs11Uri};
use crate::signature::key::{Mismatch, PublicKey, Scheme};
use crate::signature::scheme::{KeyAlgorithm, SchemeCheck, ecdsa_signature};
use crate::stream::Sha256Digest;

/// DER of the P-256 curve OID, as `CKA_EC_PARAMS` holds it.
const EC_PARAMS_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `CKA_EC_PARAMS` of Ed25519: the OID 1.3.101.112, or the PrintableString "edwards25519".
const EC_PARAMS_ED25519: [&[u8]; 2] = [&[0x06, 0x03, 0x2b, 0x65, 0x70], b"\x13\x0cedwards25519"];

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
    /// No public-key object matched.
    #[error("no public key matching {wanted} on token '{token}'")]
    ObjectNotFound {
        /// The object attributes asked for.
        wanted: String,
        /// Token label.
        token: String,
    },
    /// More than one object matched.
    #[error("{count} public keys match {wanted} on token '{token}'; a verify key must be unique")]
    AmbiguousObject {
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

impl TokenKey {
    /// Finds the key `uri` names; every failure is a configuration error (fail closed).
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, TokenError> {
        let module = resolve_module(&uri.module)?;
        let ctx = context(&module)?;
        let slot = find_token(&ctx, uri, &module)?;
        let token = ctx
            .get_token_info(slot)
            .map(|i| i.label().trim_end().to_owned())
            .unwrap_or_default();
        let ck = |what| {
            let token = token.clone();
            move |source| TokenError::Pkcs11 {
                token,
                what,
                source,
            }
        };
        let session = ctx.open_ro_session(slot).map_err(ck("open session"))?;
        if let Some(pin) = &uri.pin {
            login(&session, pin, &token)?;
        }
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
    ) -> Result<bool, Mismatch> {
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
    ) -> Result<bool, Mismatch> {
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

    fn token_failure(&self, detail: &str) -> Mismatch {
        Mismatch::Token {
            detail: format!("token '{}': {detail}", self.token),
        }
    }
}

/// The directories `module-name` is looked up in, in order: p11-kit's module directory, the
/// multiarch library directory, and the plain ones.
fn module_dirs() -> Vec<PathBuf> {
    let triplet = if cfg!(target_arch = "x86_64") {
        "x86_64-linux-gnu"
    } else if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else if cfg!(target_arch = "arm") {
        "arm-linux-gnueabihf"
    } else {
        ""
    };
    let mut dirs = Vec::new();
    if !triplet.is_empty() {
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}/pkcs11")));
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}")));
        dirs.push(PathBuf::from(format!("/usr/lib/{triplet}/softhsm")));
    }
    for d in [
        "/usr/lib/pkcs11",
        "/usr/lib",
        "/usr/lib/softhsm",
        "/usr/local/lib",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

fn resolve_module(module: &ModuleRef) -> Result<PathBuf, TokenError> {
    match module {
        ModuleRef::Path(path) => Ok(path.clone()),
        ModuleRef::Name(name) => {
            let file = if name.contains(".so") {
                name.clone()
            } else {
                format!("{name}.so")
            };
            let dirs = module_dirs();
            dirs.iter()
                .map(|d| d.join(&file))
                .find(|p| p.is_file())
                .ok_or_else(|| TokenError::ModuleNotFound {
                    name: name.clone(),
                    looked: dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        }
    }
}

/// The process-wide context of `module`: loaded and initialised once, then shared.
fn context(module: &Path) -> Result<Pkcs11, TokenError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let fail = |detail: String| TokenError::Module {
        path: module.to_owned(),
        detail,
    };
    let key = std::fs::canonicalize(module).map_err(|e| fail(e.to_string()))?;
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| fail("module registry lock poisoned".to_owned()))?;
    if let Some(ctx) = contexts.get(&key) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&key).map_err(|e| fail(format!("cannot load: {e}")))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(fail(format!("C_Initialize: {e}"))),
    }
    contexts.insert(key, ctx.clone());
    Ok(ctx)
}

/// Token fields are space-padded, and tpm2-pkcs11 pads its model with NULs.
fn unpad(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri, module: &Path) -> Result<Slot, TokenError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|source| TokenError::Pkcs11 {
            token: module.display().to_string(),
            what: "list slots",
            source,
        })?;
    let wanted = [
        ("token", &uri.token),
        ("manufacturer", &uri.manufacturer),
        ("model", &uri.model),
        ("serial", &uri.serial),
    ];
    let mut present = Vec::new();
    let mut matching = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        present.push(unpad(info.label()).to_owned());
        let fields = [
            info.label(),
            info.manufacturer_id(),
            info.model(),
            info.serial_number(),
        ];
        let all = wanted
            .iter()
            .zip(fields)
            .all(|((_, want), have)| want.as_deref().is_none_or(|w| unpad(w) == unpad(have)));
        if all {
            matching.push(slot);
        }
    }
    let wanted_text = wanted
        .iter()
        .filter_map(|(name, v)| {
            v.as_deref()
                .map(|v| format!("{name}={}", crate::error::escape::quoted(unpad(v))))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let wanted_text = if wanted_text.is_empty() {
        "any token".to_owned()
    } else {
        wanted_text
    };
    match matching.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(TokenError::TokenNotFound {
            wanted: wanted_text,
            present: if present.is_empty() {
                "none".to_owned()
            } else {
                present.join(", ")
            },
        }),
        many => Err(TokenError::AmbiguousToken {
            wanted: wanted_text,
            count: many.len(),
        }),
    }
}

/// The PIN file's first line; capped, since it is only a PIN.
fn read_pin(pin: &PinRef) -> Result<String, TokenError> {
    match pin {
        PinRef::Value(v) => Ok(v.clone()),
        PinRef::File(path) => {
            let fail = |detail: String| TokenError::PinFile {
                path: path.clone(),
                detail,
            };
            let mut text = String::new();
            std::fs::File::open(path)
                .map_err(|e| fail(e.to_string()))?
                .take(1024)
                .read_to_string(&mut text)
                .map_err(|e| fail(e.to_string()))?;
            let line = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('\r');
            if line.is_empty() {
                return Err(fail("the file holds no PIN".to_owned()));
            }
            Ok(line.to_owned())
        }
    }
}

fn login(session: &Session, pin: &PinRef, token: &str) -> Result<(), TokenError> {
    let pin = AuthPin::from(read_pin(pin)?);
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(TokenError::Login {
            token: token.to_owned(),
            detail: match e {
                CkError::Pkcs11(RvError::PinIncorrect, _) => "the PIN is wrong".to_owned(),
                CkError::Pkcs11(RvError::PinLocked, _) => "the PIN is locked".to_owned(),
                other => other.to_string(),
            },
        }),
    }
}

fn find_key(session: &Session, uri: &Pkcs11Uri, token: &str) -> Result<ObjectHandle, TokenError> {
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    let mut wanted = Vec::new();
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
        wanted.push(format!("object={}", crate::error::escape::quoted(label)));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
        wanted.push(format!("id={}", hex::encode(id)));
    }
    let found = session
        .find_objects(&template)
        .map_err(|source| TokenError::Pkcs11 {
            token: token.to_owned(),
            what: "find objects",
            source,
        })?;
    match found.as_slice() {
        [handle] => Ok(*handle),
        [] => Err(TokenError::ObjectNotFound {
            wanted: wanted.join(", "),
            token: token.to_owned(),
        }),
        many => Err(TokenError::AmbiguousObject {
            wanted: wanted.join(", "),
            token: token.to_owned(),
            count: many.len(),
        }),
    }
}

/// The key's type, with its public value read out as a software key where the token allows.
fn describe_key(
    session: &Session,
    handle: ObjectHandle,
    token: &str,
) -> Result<(KeyAlgorithm, Option<PublicKey>), TokenError> {
    let unusable = |detail: String| TokenError::Unusable {
        token: token.to_owned(),
        detail,
    };
    let attrs = session
        .get_attributes(handle, &[AttributeType::KeyType])
        .map_err(|source| TokenError::Pkcs11 {
            token: token.to_owned(),
            what: "read key type",
            source,
        })?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    });
    let read = |types: &[AttributeType]| session.get_attributes(handle, types).unwrap_or_default();
    match key_type {
        Some(KeyType::RSA) => {
            let attrs = read(&[AttributeType::Modulus, AttributeType::PublicExponent]);
            let (mut n, mut e) = (None, None);
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    _ => {}
                }
            }
            let (Some(n), Some(e)) = (n, e) else {
                return Err(unusable("the RSA modulus cannot be read".to_owned()));
            };
            // The size check applies to token keys as to files (issue #2: at least 2048 bits).
            let software =
                PublicKey::from_rsa_parts(&n, &e).map_err(|e| unusable(e.to_string()))?;
            let modulus_len = n.iter().skip_while(|b| **b == 0).count();
            Ok((KeyAlgorithm::Rsa { modulus_len }, Some(software)))
        }
        Some(KeyType::EC) => {
            let (params, point) = ec_attributes(&read);
            if params.as_deref() != Some(EC_PARAMS_P256) {
                return Err(unusable(
                    "the EC key is not on P-256 (the only curve accepted)".to_owned(),
                ));
            }
            let software = point
                .as_deref()
                .map(unwrap_octet_string)
                .and_then(|p| PublicKey::from_p256_point(p).ok());
            Ok((KeyAlgorithm::EcdsaP256, software))
        }
        Some(KeyType::EC_EDWARDS) => {
            let (params, point) = ec_attributes(&read);
            if !params
                .as_deref()
                .is_some_and(|p| EC_PARAMS_ED25519.contains(&p))
            {
                return Err(unusable("the Edwards key is not Ed25519".to_owned()));
            }
            let software = point
                .as_deref()
                .map(unwrap_octet_string)
                .and_then(|p| PublicKey::from_ed25519_bytes(p).ok());
            Ok((KeyAlgorithm::Ed25519, software))
        }
        other => Err(unusable(format!(
            "key type {} is not RSA, EC P-256 or Ed25519",
            other.map_or_else(|| "unknown".to_owned(), |t| t.to_string())
        ))),
    }
}

fn ec_attributes(
    read: &dyn Fn(&[AttributeType]) -> Vec<Attribute>,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut params, mut point) = (None, None);
    for a in read(&[AttributeType::EcParams, AttributeType::EcPoint]) {
        match a {
            Attribute::EcParams(v) => params = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            _ => {}
        }
    }
    (params, point)
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the point; some tokens store the bare point.
fn unwrap_octet_string(value: &[u8]) -> &[u8] {
    match value {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
