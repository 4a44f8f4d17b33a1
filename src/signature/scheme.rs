//! The accepted signature schemes, in the order they are tried, for every kind of verify key.
//!
//! Spec §3.2 and the extensions in docs/compatibility.md: RSA PKCS#1 v1.5 then PSS, ECDSA P-256
//! as 64-byte r‖s then DER, Ed25519 over the manifest then over its SHA-256. A key in software
//! and a key in a token run this same table; each backend answers only "does this one scheme's
//! signature verify with this key", so the accepted set and its order are decided in one place.

use super::key::{KeyVerifyFailure, Scheme};
use crate::stream::Sha256Digest;

/// A verify key's algorithm, as far as the scheme table needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with a modulus of this many bytes (the length of its signatures).
    Rsa {
        /// Modulus length in bytes.
        modulus_len: usize,
    },
    /// ECDSA on P-256.
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    /// Short name, as messages print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa { .. } => "RSA",
            Self::EcdsaP256 => "ECDSA P-256",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// The schemes tried for this algorithm, in order: the first that verifies wins.
    pub fn schemes(self) -> &'static [Scheme] {
        match self {
            Self::Rsa { .. } => &[Scheme::RsaPkcs1v15, Scheme::RsaPss],
            Self::EcdsaP256 => &[Scheme::EcdsaRaw, Scheme::EcdsaDer],
            Self::Ed25519 => &[Scheme::Ed25519, Scheme::Ed25519OverDigest],
        }
    }
}

/// A key that can check one scheme at a time.
pub(crate) trait SchemeCheck {
    /// The key's algorithm.
    fn algorithm(&self) -> KeyAlgorithm;

    /// Whether `signature` is this key's signature over the manifest (`message`, SHA-256
    /// `digest`) in `scheme`: `Ok(false)` when it is not, or when the backend cannot check that
    /// scheme; `Err` for a failure that must reject the artifact (a token error).
    fn check(
        &self,
        scheme: Scheme,
        message: &[u8],
        digest: &Sha256Digest,
        signature: &[u8],
    ) -> Result<bool, KeyVerifyFailure>;
}

/// Verifies `signature` with `key`: the shape checks, then each scheme of its algorithm in
/// order. Returns the scheme that verified.
pub(crate) fn verify(
    key: &dyn SchemeCheck,
    message: &[u8],
    digest: &Sha256Digest,
    signature: &[u8],
) -> Result<Scheme, KeyVerifyFailure> {
    let algorithm = key.algorithm();
    check_shape(algorithm, signature)?;
    for &scheme in algorithm.schemes() {
        if key.check(scheme, message, digest, signature)? {
            return Ok(scheme);
        }
    }
    Err(KeyVerifyFailure::Invalid {
        algorithm: algorithm.name(),
    })
}

/// Names a signature that cannot be one of this algorithm's before any key work, so the error
/// says what is wrong with the bytes rather than "does not match".
fn check_shape(algorithm: KeyAlgorithm, signature: &[u8]) -> Result<(), KeyVerifyFailure> {
    let found = signature.len();
    match algorithm {
        KeyAlgorithm::Rsa { modulus_len } if found != modulus_len => {
            Err(KeyVerifyFailure::WrongLength {
                algorithm: algorithm.name(),
                expected: modulus_len.to_string(),
                found,
            })
        }
        KeyAlgorithm::Ed25519 if found != 64 => Err(KeyVerifyFailure::WrongLength {
            algorithm: algorithm.name(),
            expected: "64".to_owned(),
            found,
        }),
        KeyAlgorithm::EcdsaP256
            if ecdsa_signature(Scheme::EcdsaRaw, signature).is_none()
                && ecdsa_signature(Scheme::EcdsaDer, signature).is_none() =>
        {
            Err(KeyVerifyFailure::NotEcdsa { found })
        }
        _ => Ok(()),
    }
}

/// The P-256 signature `scheme` reads from `signature`: 64-byte r‖s for [`Scheme::EcdsaRaw`],
/// DER for [`Scheme::EcdsaDer`]. A DER signature can itself be 64 bytes long, so both readings
/// of one signature are tried.
pub(crate) fn ecdsa_signature(scheme: Scheme, signature: &[u8]) -> Option<p256::ecdsa::Signature> {
    match scheme {
        Scheme::EcdsaRaw if signature.len() == 64 => {
            p256::ecdsa::Signature::from_slice(signature).ok()
        }
        Scheme::EcdsaDer => p256::ecdsa::Signature::from_der(signature).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A key that records which schemes it was asked, and accepts `accept`.
    struct Probe {
        algorithm: KeyAlgorithm,
        accept: Option<Scheme>,
        asked: RefCell<Vec<Scheme>>,
    }

    impl SchemeCheck for Probe {
        fn algorithm(&self) -> KeyAlgorithm {
            self.algorithm
        }

        fn check(
            &self,
            scheme: Scheme,
            _: &[u8],
            _: &Sha256Digest,
            _: &[u8],
        ) -> Result<bool, KeyVerifyFailure> {
            self.asked.borrow_mut().push(scheme);
            Ok(self.accept == Some(scheme))
        }
    }

    fn probe(algorithm: KeyAlgorithm, accept: Option<Scheme>) -> Probe {
        Probe {
            algorithm,
            accept,
            asked: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn schemes_are_tried_in_table_order_and_the_first_match_wins() {
        let rsa = KeyAlgorithm::Rsa { modulus_len: 4 };
        let p = probe(rsa, Some(Scheme::RsaPss));
        assert_eq!(verify(&p, b"m", &[0; 32], &[1; 4]), Ok(Scheme::RsaPss));
        assert_eq!(*p.asked.borrow(), [Scheme::RsaPkcs1v15, Scheme::RsaPss]);

        let p = probe(rsa, Some(Scheme::RsaPkcs1v15));
        assert_eq!(verify(&p, b"m", &[0; 32], &[1; 4]), Ok(Scheme::RsaPkcs1v15));
        assert_eq!(
            *p.asked.borrow(),
            [Scheme::RsaPkcs1v15],
            "stops at the first match"
        );

        let p = probe(KeyAlgorithm::Ed25519, None);
        assert_eq!(
            verify(&p, b"m", &[0; 32], &[1; 64]),
            Err(KeyVerifyFailure::Invalid {
                algorithm: "Ed25519"
            })
        );
        assert_eq!(
            *p.asked.borrow(),
            [Scheme::Ed25519, Scheme::Ed25519OverDigest]
        );
    }

    #[test]
    fn ecdsa_signatures_are_read_as_raw_and_as_der() {
        let raw = [5u8; 64];
        let sig = ecdsa_signature(Scheme::EcdsaRaw, &raw).unwrap();
        let der = sig.to_der();
        let back = ecdsa_signature(Scheme::EcdsaDer, der.as_bytes()).unwrap();
        assert_eq!(back.to_bytes().as_slice(), &raw[..]);
        assert!(ecdsa_signature(Scheme::EcdsaDer, &raw).is_none());
        assert!(ecdsa_signature(Scheme::EcdsaRaw, der.as_bytes()).is_none());
        assert!(ecdsa_signature(Scheme::EcdsaRaw, &[1, 2, 3]).is_none());
        assert!(ecdsa_signature(Scheme::RsaPss, &raw).is_none());
    }

    #[test]
    fn malformed_signatures_are_named_before_any_key_is_asked() {
        let p = probe(KeyAlgorithm::Rsa { modulus_len: 384 }, None);
        assert_eq!(
            verify(&p, b"m", &[0; 32], &[1; 64]),
            Err(KeyVerifyFailure::WrongLength {
                algorithm: "RSA",
                expected: "384".to_owned(),
                found: 64
            })
        );
        let p = probe(KeyAlgorithm::EcdsaP256, None);
        assert_eq!(
            verify(&p, b"m", &[0; 32], &[1; 10]),
            Err(KeyVerifyFailure::NotEcdsa { found: 10 })
        );
        assert!(p.asked.borrow().is_empty());
    }
}
