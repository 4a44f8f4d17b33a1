//! The device key: what the device signs its auth requests with, and whose public half the
//! server knows it by.
//!
//! As Mender 3 does, the default is `<datastore>/mender-agent.pem`, created on first start as
//! an RSA 3072 key (PKCS#1 PEM); an existing RSA (at least 2048 bits), ECDSA P-256 or Ed25519
//! key is used as it is (PKCS#1, SEC1 or PKCS#8 PEM). The file is written crash-safely with
//! mode 0600. Beyond Mender, `[server] device_key` may be a `pkcs11:` URI: the private key then
//! never leaves its token or TPM, which signs.
//!
//! Signatures are as deviceauth checks them (its `X-MEN-Signature` table): RSA PKCS#1 v1.5 over
//! SHA-256, ECDSA over SHA-256 as an ASN.1 `SEQUENCE {r, s}`, Ed25519 over the message.

use std::path::{Path, PathBuf};

use pem_rfc7468::LineEnding;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};

use super::ServerError;
use super::settings::DeviceKeySource;
use crate::signature::key::MIN_RSA_BITS;

/// The key file in the datastore.
pub const DEFAULT_FILE: &str = "mender-agent.pem";
/// Size of a generated key, as Mender 3's.
const GENERATED_RSA_BITS: usize = 3072;

enum Signing {
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
    EcdsaP256(p256::ecdsa::SigningKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
    #[cfg(feature = "pkcs11")]
    Token(crate::keys::token::TokenSigner),
}

/// The device's key pair.
pub struct DeviceKey {
    signing: Signing,
    public_pem: String,
    describe: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl DeviceKey {
    /// Opens the key, creating the default file when it does not exist.
    pub fn open(source: &DeviceKeySource) -> Result<Self, ServerError> {
        match source {
            DeviceKeySource::File(path) => Self::open_file(path),
            #[cfg(feature = "pkcs11")]
            DeviceKeySource::Token(uri) => {
                let parsed =
                    crate::keys::uri::Pkcs11Uri::parse(uri).map_err(|e| key_error(uri, e))?;
                let signer = crate::keys::token::TokenSigner::open(&parsed)
                    .map_err(|e| key_error(uri, e))?;
                let public_pem = spki_pem(signer.public_spki_der());
                let describe = format!("{} ({}, signing on the token)", parsed, signer.algorithm());
                Ok(Self {
                    signing: Signing::Token(signer),
                    public_pem,
                    describe,
                })
            }
            #[cfg(not(feature = "pkcs11"))]
            DeviceKeySource::Token(uri) => Err(key_error(
                uri,
                "this build has no PKCS#11 support (feature pkcs11)",
            )),
        }
    }

    fn open_file(path: &Path) -> Result<Self, ServerError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_pem(&bytes).map_err(|e| key_error(&path.display(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(key_error(&path.display(), e)),
        }
    }

    /// A new RSA 3072 key at `path`.
    fn create(path: &Path) -> Result<Self, ServerError> {
        tracing::info!(
            "creating the device key {} (RSA {GENERATED_RSA_BITS}); this takes a moment",
            path.display()
        );
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, GENERATED_RSA_BITS)
            .map_err(|e| key_error(&path.display(), e))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| key_error(&path.display(), e))?;
        let pem = pem_rfc7468::encode_string("RSA PRIVATE KEY", LineEnding::LF, der.as_bytes())
            .map_err(|e| key_error(&path.display(), e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| key_error(&dir.display(), e))?;
        }
        crate::state::persist::write_atomic_private(path, pem.as_bytes())
            .map_err(|e| key_error(&path.display(), e))?;
        let mut made = Self::rsa(key)?;
        made.describe = format!("{} (RSA {GENERATED_RSA_BITS}, created now)", path.display());
        Ok(made)
    }

    fn rsa(key: rsa::PrivateKey) -> Result<Self, ServerError> {
        let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
        if bits < MIN_RSA_BITS as usize {
            return Err(ServerError::DeviceKey {
                key: "RSA key".to_owned(),
                detail: format!("{bits} bits is under the {MIN_RSA_BITS} accepted"),
            });
        }
        let public = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| key_error(&"RSA key", e))?;
        Ok(Self {
            signing: Signing::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(key))),
            public_pem: spki_pem(public.as_bytes()),
            describe: format!("RSA {bits}"),
        })
    }

    /// Reads a PEM private key: PKCS#1 RSA, SEC1 P-256, or PKCS#8 with any of the three.
    fn from_pem(bytes: &[u8]) -> Result<Self, String> {
        let (label, der) = pem_rfc7468::decode_vec(bytes).map_err(|e| format!("not PEM: {e}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{label} block: {e}");
        match label {
            "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_der(&der)
                .map_err(|e| bad(&e))
                .and_then(|k| Self::rsa(k).map_err(|e| e.to_string())),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map(|k| Self::p256(k.into()))
                .map_err(|_| bad(&"not an EC key on P-256 (the only curve accepted)")),
            "PRIVATE KEY" => {
                if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
                    return Self::rsa(k).map_err(|e| e.to_string());
                }
                if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
                    return Ok(Self::p256(k.into()));
                }
                ed25519_dalek::SigningKey::from_pkcs8_der(&der)
                    .map(Self::ed25519)
                    .map_err(|_| bad(&"not an RSA, ECDSA P-256 or Ed25519 key"))
            }
            other => Err(format!(
                "a {other} PEM block is not a private key (expected RSA PRIVATE KEY, EC PRIVATE \
                 KEY or PRIVATE KEY)"
            )),
        }
    }

    fn p256(key: p256::ecdsa::SigningKey) -> Self {
        let public = key
            .verifying_key()
            .to_public_key_der()
            .map(|d| spki_pem(d.as_bytes()))
            .unwrap_or_default();
        Self {
            signing: Signing::EcdsaP256(key),
            public_pem: public,
            describe: "ECDSA P-256".to_owned(),
        }
    }

    fn ed25519(key: ed25519_dalek::SigningKey) -> Self {
        let public = key
            .verifying_key()
            .to_public_key_der()
            .map(|d| spki_pem(d.as_bytes()))
            .unwrap_or_default();
        Self {
            signing: Signing::Ed25519(Box::new(key)),
            public_pem: public,
            describe: "Ed25519".to_owned(),
        }
    }

    /// The public key, as the auth request's `pubkey` (SubjectPublicKeyInfo PEM).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// What the key is, for the log.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Signs `message` for `X-MEN-Signature`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ServerError> {
        match &self.signing {
            Signing::Rsa(k) => Ok(k.sign(message).to_vec()),
            Signing::EcdsaP256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(message);
                Ok(signature.to_der().as_bytes().to_vec())
            }
            Signing::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
            #[cfg(feature = "pkcs11")]
            Signing::Token(t) => t.sign(message).map_err(|e| ServerError::DeviceKey {
                key: self.describe.clone(),
                detail: e.to_string(),
            }),
        }
    }
}

fn key_error(key: &dyn std::fmt::Display, e: impl std::fmt::Display) -> ServerError {
    ServerError::DeviceKey {
        key: key.to_string(),
        detail: e.to_string(),
    }
}

/// `-----BEGIN PUBLIC KEY-----` around `der`.
pub(crate) fn spki_pem(der: &[u8]) -> String {
    pem_rfc7468::encode_string("PUBLIC KEY", LineEnding::LF, der).unwrap_or_default()
}

/// The default key file for `datastore`.
pub fn default_path(datastore: &Path) -> PathBuf {
    datastore.join(DEFAULT_FILE)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use super::*;
    use crate::signature::key::PublicKey;

    fn verifies(key: &DeviceKey, message: &[u8]) -> bool {
        let public = PublicKey::from_file_bytes(key.public_pem().as_bytes()).unwrap();
        let signature = key.sign(message).unwrap();
        let digest: crate::stream::Sha256Digest =
            <sha2::Sha256 as sha2::Digest>::digest(message).into();
        public.verify(message, &digest, &signature).is_ok()
    }

    #[test]
    fn a_missing_key_is_created_as_rsa_3072_with_mode_0600_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEFAULT_FILE);
        let made = DeviceKey::open(&DeviceKeySource::File(path.clone())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
            "{text}"
        );
        let out = Command::new("openssl")
            .args(["rsa", "-noout", "-text", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("3072 bit"));
        let again = DeviceKey::open(&DeviceKeySource::File(path)).unwrap();
        assert_eq!(made.public_pem(), again.public_pem());
        assert!(verifies(&again, b"{\"id_data\":\"{}\"}"));
    }

    #[test]
    fn existing_ecdsa_and_ed25519_keys_are_used_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        for (name, args) in [
            (
                "ec.pem",
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                ][..],
            ),
            ("ed.pem", &["genpkey", "-algorithm", "ed25519", "-out"][..]),
            (
                "ec8.pem",
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                ][..],
            ),
        ] {
            let path = dir.path().join(name);
            let ok = Command::new("openssl")
                .args(args)
                .arg(&path)
                .status()
                .unwrap();
            assert!(ok.success());
            let before = std::fs::read(&path).unwrap();
            let key = DeviceKey::open(&DeviceKeySource::File(path.clone())).unwrap();
            assert!(verifies(&key, b"message"), "{name}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "{name} was rewritten"
            );
        }
    }

    #[test]
    fn unusable_key_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(
            &path,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let e = DeviceKey::open(&DeviceKeySource::File(path.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("k.pem") && e.contains("not a private key"),
            "{e}"
        );
        let ok = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        let e = DeviceKey::open(&DeviceKeySource::File(path))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an RSA, ECDSA P-256 or Ed25519 key"), "{e}");
    }
}
