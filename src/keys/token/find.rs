//! Finding things in a token: the token by its label (and manufacturer, model, serial), the one
//! public-key object the URI names, and its type and public value.

use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use super::TokenError;
use crate::keys::uri::Pkcs11Uri;
use crate::signature::key::PublicKey;
use crate::signature::scheme::KeyAlgorithm;

/// DER of the P-256 curve OID, as `CKA_EC_PARAMS` holds it.
pub(super) const EC_PARAMS_P256: &[u8] =
    &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `CKA_EC_PARAMS` of Ed25519: the OID 1.3.101.112, or the PrintableString "edwards25519".
pub(super) const EC_PARAMS_ED25519: [&[u8]; 2] =
    [&[0x06, 0x03, 0x2b, 0x65, 0x70], b"\x13\x0cedwards25519"];

/// Token fields are space-padded, and tpm2-pkcs11 pads its model with NULs.
pub(super) fn unpad(s: &str) -> &str {
    s.trim_end_matches([' ', '\0'])
}

pub(super) fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri, module: &Path) -> Result<Slot, TokenError> {
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

pub(super) fn find_key(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &str,
) -> Result<ObjectHandle, TokenError> {
    find_object(session, uri, token, ObjectClass::PUBLIC_KEY)
}

/// The one object of `class` the URI's label and id name.
pub(super) fn find_object(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &str,
    class: ObjectClass,
) -> Result<ObjectHandle, TokenError> {
    let mut template = vec![Attribute::Class(class)];
    let mut wanted = Vec::new();
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
        wanted.push(format!("object={}", crate::error::escape::quoted(label)));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
        wanted.push(format!("id={}", hex::encode(id)));
    }
    let kind = if class == ObjectClass::PRIVATE_KEY {
        "private key"
    } else {
        "public key"
    };
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
            kind,
            wanted: wanted.join(", "),
            token: token.to_owned(),
        }),
        many => Err(TokenError::AmbiguousObject {
            kind,
            wanted: wanted.join(", "),
            token: token.to_owned(),
            count: many.len(),
        }),
    }
}

/// The key's type, with its public value read out as a software key where the token allows.
pub(super) fn describe_key(
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

pub(super) fn ec_attributes(
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
pub(super) fn unwrap_octet_string(value: &[u8]) -> &[u8] {
    match value {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => value,
    }
}
