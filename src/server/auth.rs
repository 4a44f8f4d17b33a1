//! The auth request (deviceauth's `POST /api/devices/v1/authentication/auth_requests`): the
//! identity, the device's public key and the tenant token, as JSON, signed with the device key
//! in `X-MEN-Signature` (base64). The answer to an accepted device is its token (a JWT) as the
//! body; a device not yet accepted gets a 401.

use base64::Engine;
use serde::Serialize;

use super::ServerError;
use super::device_key::DeviceKey;

/// deviceauth's path.
pub const AUTH_PATH: &str = "/api/devices/v1/authentication/auth_requests";
/// Longest token accepted: it goes into every request's `Authorization` header.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Serialize)]
struct AuthRequest<'a> {
    id_data: &'a str,
    pubkey: &'a str,
    tenant_token: &'a str,
}

/// A signed auth request: the exact bytes the signature covers, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The JSON body.
    pub body: Vec<u8>,
    /// `X-MEN-Signature`: base64 of the signature over `body`.
    pub signature: String,
}

/// Builds and signs the request.
pub fn sign_request(
    id_data: &str,
    key: &DeviceKey,
    tenant_token: &str,
) -> Result<SignedRequest, ServerError> {
    let body = serde_json::to_vec(&AuthRequest {
        id_data,
        pubkey: key.public_pem(),
        tenant_token,
    })
    .map_err(|e| ServerError::DeviceKey {
        key: key.describe().to_owned(),
        detail: e.to_string(),
    })?;
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&body)?);
    Ok(SignedRequest { body, signature })
}

/// The token in a `200` answer's body: printable ASCII, one line, not empty.
pub fn parse_token(body: &[u8]) -> Result<String, ServerError> {
    let bad = |detail: &str| ServerError::BadAnswer {
        what: "authentication",
        detail: detail.to_owned(),
    };
    let text = std::str::from_utf8(body).map_err(|_| bad("the token is not text"))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("the token is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(bad("the token is over 16 KiB"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("the token holds characters a header cannot carry"));
    }
    Ok(token.to_owned())
}

/// The `error` of a Mender error answer (`{"error": "...", "request_id": "..."}`), if any.
pub fn server_words(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let words = value.get("error")?.as_str()?;
    Some(crate::error::escape::quoted(words.get(..200).unwrap_or(words)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::settings::DeviceKeySource;
    use crate::signature::key::PublicKey;

    #[test]
    fn the_request_is_signed_over_its_exact_body_and_carries_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let ok = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        let key = DeviceKey::open(&DeviceKeySource::File(path)).unwrap();
        let signed = sign_request(r#"{"mac":"aa"}"#, &key, "tt").unwrap();
        let body: serde_json::Value = serde_json::from_slice(&signed.body).unwrap();
        assert_eq!(body["id_data"], r#"{"mac":"aa"}"#);
        assert_eq!(body["tenant_token"], "tt");
        assert_eq!(body["pubkey"], key.public_pem());
        let public = PublicKey::from_file_bytes(key.public_pem().as_bytes()).unwrap();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&signed.signature)
            .unwrap();
        let digest: crate::stream::Sha256Digest =
            <sha2::Sha256 as sha2::Digest>::digest(&signed.body).into();
        assert!(public.verify(&signed.body, &digest, &signature).is_ok());
        let mut other = signed.body.clone();
        other.push(b' ');
        let digest: crate::stream::Sha256Digest =
            <sha2::Sha256 as sha2::Digest>::digest(&other).into();
        assert!(public.verify(&other, &digest, &signature).is_err());
    }

    #[test]
    fn tokens_must_be_one_printable_line() {
        assert_eq!(parse_token(b"eyJh.eyJz.sig\n").unwrap(), "eyJh.eyJz.sig");
        for bad in [&b""[..], b"  \n", b"a\nb", b"tok\x01en", &[0xff, 0xfe]] {
            assert!(parse_token(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            server_words(br#"{"error":"dev auth: unauthorized","request_id":"x"}"#).as_deref(),
            Some("'dev auth: unauthorized'")
        );
    }
}
