//! Public verification keys: decoding key files and checking one signature with one key.
//!
//! Accepted files (spec §3.4; everything past SPKI is our extension over Mender):
//! SubjectPublicKeyInfo PEM (`PUBLIC KEY`), PKCS#1 RSA PEM (`RSA PUBLIC KEY`), X.509 certificates
//! in PEM or DER (the `.cer` a signing server exports), and bare SPKI or PKCS#1 DER. A certificate
//! is only a container for its key here: its validity dates and issuer are not evaluated.
//!
//! Private keys are refused with their own error: a device must never hold the signing key, and
//! a configuration that names one is a mistake to report, not to work around.

use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::traits::PublicKeyParts;
use thiserror::Error;

use super::scheme::{KeyAlgorithm, SchemeCheck};
use crate::stream::Sha256Digest;

/// Smallest RSA modulus accepted, in bits (issue #2: refuse keys under 2048 bits).
pub const MIN_RSA_BITS: u32 = 2048;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_ED25519: &str = "1.3.101.112";

/// A public key that can check manifest signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// RSA, checked as PKCS#1 v1.5 (and, as an extension, PSS) with SHA-256.
    Rsa(Box<rsa::PublicKey>),
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A key in a PKCS#11 token, checked there (issue #7).
    #[cfg(feature = "pkcs11")]
    Token(std::sync::Arc<crate::keys::token::TokenKey>),
}

/// Why a key file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The file is PEM but holds no block we can read.
    #[error("no PEM block found")]
    NoPemBlock,
    /// The file holds more than one PEM block, which is ambiguous for a verify key.
    #[error("{0} PEM blocks found; a verify-key file must hold exactly one key or certificate")]
    SeveralPemBlocks(usize),
    /// A PEM block with a label we do not accept.
    #[error("unsupported PEM label '{0}' (expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)")]
    UnsupportedPemLabel(String),
    /// The PEM armour is malformed.
    #[error("malformed PEM: {0}")]
    BadPem(String),
    /// A private key where a public key belongs.
    #[error("this is a private key ('{0}'); configure the matching public key instead")]
    PrivateKey(String),
    /// DER that is neither SPKI, PKCS#1 nor a certificate.
    #[error("not a public key or certificate (neither SubjectPublicKeyInfo, PKCS#1 nor X.509 DER)")]
    NotAKey,
    /// A key whose algorithm is not supported.
    #[error("unsupported key algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// An EC key on a curve other than P-256.
    #[error("unsupported elliptic curve {0} (only P-256 is supported)")]
    UnsupportedCurve(String),
    /// An RSA key that is too small.
    #[error("RSA key of {0} bits is too small (minimum {MIN_RSA_BITS})")]
    RsaTooSmall(u32),
    /// A `pkcs11:` URI in a build without the `pkcs11` feature.
    #[error(
        "this build has no PKCS#11 support (cargo feature 'pkcs11'); pkcs11: keys cannot be used"
    )]
    Pkcs11Unavailable,
    /// Key material that does not decode.
    #[error("invalid {algorithm} key: {detail}")]
    InvalidKey {
        /// Algorithm name.
        algorithm: &'static str,
        /// Decoder message.
        detail: String,
    },
}

/// How a signature was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what mender-artifact writes).
    RsaPkcs1v15,
    /// RSASSA-PSS with SHA-256 (extension; no Mender tool writes it).
    RsaPss,
    /// ECDSA P-256, 64-byte raw r‖s (mender-artifact's own PEM signer).
    EcdsaRaw,
    /// ECDSA P-256, ASN.1 DER (PKCS#11 signers, SignServer, OpenSSL).
    EcdsaDer,
    /// Ed25519 over the manifest bytes.
    Ed25519,
    /// Ed25519 over the SHA-256 digest of the manifest (a signing service fed only the digest).
    Ed25519OverDigest,
}

impl Scheme {
    /// Short human name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RsaPkcs1v15 => "RSA PKCS#1 v1.5 / SHA-256",
            Self::RsaPss => "RSA-PSS / SHA-256",
            Self::EcdsaRaw => "ECDSA P-256 / SHA-256 (raw r||s)",
            Self::EcdsaDer => "ECDSA P-256 / SHA-256 (DER)",
            Self::Ed25519 => "Ed25519",
            Self::Ed25519OverDigest => "Ed25519 over SHA-256 digest",
        }
    }
}

/// Why one key did not verify a signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyVerifyFailure {
    /// The signature does not have the length this key produces.
    #[error("{algorithm} signature must be {expected} bytes, found {found}")]
    WrongLength {
        /// Key algorithm.
        algorithm: &'static str,
        /// Expected length description.
        expected: String,
        /// Found length.
        found: usize,
    },
    /// The signature bytes are not a signature of this key's type at all.
    #[error("not a P-256 ECDSA signature: {found} bytes, neither 64-byte r||s nor valid DER")]
    NotEcdsa {
        /// Found length.
        found: usize,
    },
    /// Well-formed, but made by another key or over other bytes.
    #[error("{algorithm} signature does not match the manifest for this key")]
    Invalid {
        /// Key algorithm.
        algorithm: &'static str,
    },
    /// The token holding the key failed to answer; the signature counts as unverified.
    #[error("{detail}")]
    Token {
        /// What the token said.
        detail: String,
    },
}

impl PublicKey {
    /// Decodes a key file's bytes (PEM or DER; see the module docs).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if let Some(blocks) = pem_blocks(bytes)? {
            let [(label, der)] = <[_; 1]>::try_from(blocks)
                .map_err(|blocks: Vec<_>| KeyError::SeveralPemBlocks(blocks.len()))?;
            return match label.as_str() {
                "PUBLIC KEY" => Self::from_spki_der(&der),
                "RSA PUBLIC KEY" => Self::from_pkcs1_der(&der),
                "CERTIFICATE" => Self::from_certificate_der(&der),
                l if l.contains("PRIVATE KEY") => Err(KeyError::PrivateKey(label)),
                _ => Err(KeyError::UnsupportedPemLabel(label)),
            };
        }
        Self::from_der(bytes)
    }

    /// Decodes DER: an X.509 certificate, an SPKI or a PKCS#1 RSA public key.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        if x509_cert::Certificate::from_der(der).is_ok() {
            return Self::from_certificate_der(der);
        }
        if spki::SubjectPublicKeyInfoRef::from_der(der).is_ok() {
            return Self::from_spki_der(der);
        }
        if pkcs1::RsaPublicKey::<der::asn1::UintRef<'_>>::from_der(der).is_ok() {
            return Self::from_pkcs1_der(der);
        }
        Err(KeyError::NotAKey)
    }

    /// An RSA key from its big-endian modulus and exponent (as a token stores them).
    pub fn from_rsa_parts(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let n = rsa::BoxedUint::from_be_slice_vartime(modulus);
        let e = rsa::BoxedUint::from_be_slice_vartime(exponent);
        let key = rsa::PublicKey::new(n, e).map_err(|e| KeyError::InvalidKey {
            algorithm: "RSA",
            detail: e.to_string(),
        })?;
        check_rsa_size(key)
    }

    /// A P-256 key from its SEC1 point.
    pub fn from_p256_point(point: &[u8]) -> Result<Self, KeyError> {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(Self::EcdsaP256)
            .map_err(|e| KeyError::InvalidKey {
                algorithm: "ECDSA P-256",
                detail: e.to_string(),
            })
    }

    /// An Ed25519 key from its 32 bytes.
    pub fn from_ed25519_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let raw: &[u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidKey {
            algorithm: "Ed25519",
            detail: format!("public key is {} bytes, not 32", bytes.len()),
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(raw)
            .map(Self::Ed25519)
            .map_err(|e| KeyError::InvalidKey {
                algorithm: "Ed25519",
                detail: e.to_string(),
            })
    }

    /// SHA-256 of the key's SubjectPublicKeyInfo DER: what `[policy] revoked_keys` lists
    /// (`sha256:<hex>`). `None` for a token key whose public value cannot be read out.
    pub fn fingerprint(&self) -> Option<Sha256Digest> {
        use rsa::pkcs8::EncodePublicKey;
        let der = match self {
            Self::Rsa(k) => k.to_public_key_der().ok()?.into_vec(),
            Self::EcdsaP256(k) => k.to_public_key_der().ok()?.into_vec(),
            Self::Ed25519(k) => k.to_public_key_der().ok()?.into_vec(),
            #[cfg(feature = "pkcs11")]
            Self::Token(k) => return k.software_key()?.fingerprint(),
        };
        Some(crate::stream::sha256(&der))
    }

    /// Short algorithm name.
    pub fn algorithm(&self) -> &'static str {
        SchemeCheck::algorithm(self).name()
    }

    /// Checks `signature` over the manifest whose raw bytes are `message` and whose SHA-256 is
    /// `digest` (spec §3.1: the signature covers SHA-256 of the raw manifest bytes), trying the
    /// schemes of [`super::scheme`] in order.
    pub fn verify(
        &self,
        message: &[u8],
        digest: &Sha256Digest,
        signature: &[u8],
    ) -> Result<Scheme, KeyVerifyFailure> {
        super::scheme::verify(self, message, digest, signature)
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let info =
            spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| KeyError::InvalidKey {
                algorithm: "SubjectPublicKeyInfo",
                detail: e.to_string(),
            })?;
        let oid = info.algorithm.oid.to_string();
        match oid.as_str() {
            OID_RSA => {
                let key = rsa::PublicKey::try_from(info).map_err(|e| KeyError::InvalidKey {
                    algorithm: "RSA",
                    detail: e.to_string(),
                })?;
                check_rsa_size(key)
            }
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map(|o| o.to_string())
                    .map_err(|e| KeyError::InvalidKey {
                        algorithm: "EC",
                        detail: format!("missing named curve: {e}"),
                    })?;
                if curve != OID_P256 {
                    return Err(KeyError::UnsupportedCurve(curve));
                }
                let point = info.subject_public_key.raw_bytes();
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                    .map(Self::EcdsaP256)
                    .map_err(|e| KeyError::InvalidKey {
                        algorithm: "ECDSA P-256",
                        detail: e.to_string(),
                    })
            }
            OID_ED25519 => {
                let raw: &[u8; 32] =
                    info.subject_public_key
                        .raw_bytes()
                        .try_into()
                        .map_err(|_| KeyError::InvalidKey {
                            algorithm: "Ed25519",
                            detail: "public key is not 32 bytes".to_owned(),
                        })?;
                ed25519_dalek::VerifyingKey::from_bytes(raw)
                    .map(Self::Ed25519)
                    .map_err(|e| KeyError::InvalidKey {
                        algorithm: "Ed25519",
                        detail: e.to_string(),
                    })
            }
            other => Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
        }
    }

    fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        let key = rsa::PublicKey::from_pkcs1_der(der).map_err(|e| KeyError::InvalidKey {
            algorithm: "RSA (PKCS#1)",
            detail: e.to_string(),
        })?;
        check_rsa_size(key)
    }

    fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| KeyError::InvalidKey {
            algorithm: "X.509 certificate",
            detail: e.to_string(),
        })?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| KeyError::InvalidKey {
                algorithm: "X.509 certificate",
                detail: e.to_string(),
            })?;
        Self::from_spki_der(&spki)
    }
}

fn check_rsa_size(key: rsa::PublicKey) -> Result<PublicKey, KeyError> {
    let bits = key.n().bit_width();
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooSmall(bits));
    }
    Ok(PublicKey::Rsa(Box::new(key)))
}

/// One scheme of the table, checked in software.
impl SchemeCheck for PublicKey {
    fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa(key) => KeyAlgorithm::Rsa {
                modulus_len: key.size(),
            },
            Self::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
            Self::Ed25519(_) => KeyAlgorithm::Ed25519,
            #[cfg(feature = "pkcs11")]
            Self::Token(key) => key.key_algorithm(),
        }
    }

    fn check(
        &self,
        scheme: Scheme,
        message: &[u8],
        digest: &Sha256Digest,
        signature: &[u8],
    ) -> Result<bool, KeyVerifyFailure> {
        Ok(match (self, scheme) {
            (Self::Rsa(key), Scheme::RsaPkcs1v15) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new((**key).clone())
                        .verify_prehash(digest, &sig)
                        .is_ok()
                }),
            (Self::Rsa(key), Scheme::RsaPss) => {
                rsa::pss::Signature::try_from(signature).is_ok_and(|sig| {
                    rsa::pss::VerifyingKey::<sha2::Sha256>::new_with_auto_salt_len((**key).clone())
                        .verify_prehash(digest, &sig)
                        .is_ok()
                })
            }
            (Self::EcdsaP256(key), Scheme::EcdsaRaw | Scheme::EcdsaDer) => {
                super::scheme::ecdsa_signature(scheme, signature)
                    .is_some_and(|sig| key.verify_prehash(digest, &sig).is_ok())
            }
            (Self::Ed25519(key), Scheme::Ed25519 | Scheme::Ed25519OverDigest) => {
                // Documented extension: a signing service that receives only the SHA-256 of
                // the manifest (as mender-artifact's SignServer client sends it) signs those
                // 32 bytes with PureEdDSA.
                let signed: &[u8] = if scheme == Scheme::Ed25519 {
                    message
                } else {
                    digest
                };
                <&[u8; 64]>::try_from(signature).is_ok_and(|bytes| {
                    key.verify_strict(signed, &ed25519_dalek::Signature::from_bytes(bytes))
                        .is_ok()
                })
            }
            #[cfg(feature = "pkcs11")]
            (Self::Token(key), _) => return key.check(scheme, message, digest, signature),
            _ => false,
        })
    }
}

/// A PEM block: (label, DER body).
type PemBlock = (String, Vec<u8>);

/// Splits PEM text into (label, DER) blocks. `Ok(None)` when the bytes are not PEM at all.
fn pem_blocks(bytes: &[u8]) -> Result<Option<Vec<PemBlock>>, KeyError> {
    const BEGIN: &str = "-----BEGIN ";
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(None);
    };
    if !text.contains(BEGIN) {
        return Ok(None);
    }
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let from_begin = rest.get(start..).unwrap_or_default();
        let label_end = from_begin
            .get(BEGIN.len()..)
            .and_then(|s| s.find("-----"))
            .ok_or_else(|| KeyError::BadPem("unterminated BEGIN line".to_owned()))?;
        let label = from_begin
            .get(BEGIN.len()..BEGIN.len() + label_end)
            .unwrap_or_default();
        let end_marker = format!("-----END {label}-----");
        let end = from_begin
            .find(&end_marker)
            .ok_or_else(|| KeyError::BadPem(format!("no '{end_marker}' line")))?;
        let block = from_begin.get(..end + end_marker.len()).unwrap_or_default();
        if label.contains("PRIVATE KEY") {
            return Err(KeyError::PrivateKey(label.to_owned()));
        }
        let (decoded_label, der) = pem_rfc7468::decode_vec(block.as_bytes())
            .map_err(|e| KeyError::BadPem(e.to_string()))?;
        blocks.push((decoded_label.to_owned(), der));
        rest = from_begin.get(end + end_marker.len()..).unwrap_or_default();
    }
    if blocks.is_empty() {
        return Err(KeyError::NoPemBlock);
    }
    Ok(Some(blocks))
}
