//! TLS as Mender's clients do it (spec §9): the system's root certificates plus
//! `ServerCertificate`, which may be the CA that issued the server's certificate or the
//! server's own certificate. A server certificate that *is* `ServerCertificate` — byte for byte
//! — is trusted as that exact certificate, whatever its basic constraints (a bare
//! `openssl req -x509` makes `CA:TRUE`, which webpki refuses as an end entity); its host name
//! and validity period are still checked. Everything else goes through webpki unchanged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use thiserror::Error;

/// The client side of TLS: what the device trusts, ready for connections.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_certificate: Option<PathBuf>,
}

/// `ServerCertificate`, `HttpsClient` or the TLS set-up is unusable (a configuration problem).
#[derive(Debug, Error)]
#[error("{setting} {}: {problem}", path.display())]
pub struct TlsSetupError {
    /// The mender.conf setting: `ServerCertificate` or `HttpsClient`.
    pub setting: &'static str,
    /// The file (empty when the problem is not the file's).
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
}

/// A client certificate and its key (mender.conf `HttpsClient`), for servers that require
/// mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain (PEM), the device's certificate first.
    pub certificate: PathBuf,
    /// Its private key (PEM: PKCS#1, SEC1 or PKCS#8).
    pub key: PathBuf,
}

impl ClientIdentity {
    fn load(
        &self,
    ) -> Result<
        (
            Vec<CertificateDer<'static>>,
            rustls::pki_types::PrivateKeyDer<'static>,
        ),
        TlsSetupError,
    > {
        use rustls::pki_types::pem::PemObject;
        let fail = |path: &Path, problem: String| TlsSetupError {
            setting: "HttpsClient",
            path: path.to_owned(),
            problem,
        };
        let pem =
            std::fs::read(&self.certificate).map_err(|e| fail(&self.certificate, e.to_string()))?;
        let chain = read_pem_certificates(&pem).map_err(|p| fail(&self.certificate, p))?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| fail(&self.key, format!("no usable private key: {e}")))?;
        Ok((chain, key))
    }
}

impl TlsClient {
    /// Trusts the system's roots and, when given, the certificates in `server_certificate`.
    pub fn new(server_certificate: Option<&Path>) -> Result<Self, TlsSetupError> {
        Self::with_identity(server_certificate, None)
    }

    /// As [`TlsClient::new`], presenting `identity` to servers that ask for a client
    /// certificate.
    pub fn with_identity(
        server_certificate: Option<&Path>,
        identity: Option<&ClientIdentity>,
    ) -> Result<Self, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let setup_error = |path: &Path, problem: String| TlsSetupError {
            setting: "ServerCertificate",
            path: path.to_owned(),
            problem,
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let mut pinned = Vec::new();
        if let Some(path) = server_certificate {
            let pem = std::fs::read(path).map_err(|e| setup_error(path, e.to_string()))?;
            pinned = read_pem_certificates(&pem).map_err(|problem| setup_error(path, problem))?;
            for cert in &pinned {
                // A self-signed end-entity certificate is no CA, but webpki still uses it as
                // a trust anchor for itself, which is how the `CA:FALSE` kind works.
                roots.add(cert.clone()).map_err(|e| {
                    setup_error(path, format!("not a usable X.509 certificate: {e}"))
                })?;
            }
        }
        let no_path = || setup_error(Path::new(""), "no trusted certificates at all".into());
        if roots.is_empty() {
            return Err(no_path());
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| setup_error(server_certificate.unwrap_or(Path::new("")), e.to_string()))?;
        let verifier = Arc::new(Verifier { webpki, pinned });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup_error(Path::new(""), e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = identity.load()?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsSetupError {
                        setting: "HttpsClient",
                        path: identity.certificate.clone(),
                        problem: match e {
                            rustls::Error::InvalidCertificate(_) => {
                                "not a usable client certificate (an X.509 v3 certificate is \
                                 required)"
                            }
                            _ => {
                                "the key is not this certificate's key, or not of a supported \
                                 type (RSA, ECDSA P-256 or P-384, Ed25519)"
                            }
                        }
                        .to_owned(),
                    })?
            }
        };
        Ok(Self {
            config: Arc::new(config),
            server_certificate: server_certificate.map(Path::to_owned),
        })
    }

    /// The rustls configuration for a connection.
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// A TLS failure in words an operator can act on (what to check: the trusted
    /// certificates, the clock, the host name), never rustls' debug form.
    pub fn words(&self, error: &rustls::Error) -> String {
        tls_words(error, self.server_certificate.as_deref())
    }
}

/// The certificates of a PEM file; anything else in it is an error.
fn read_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM text file".to_owned())?;
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = rest.get(start..).unwrap_or_default();
        let end = block
            .find("-----END ")
            .and_then(|e| block.get(e..).and_then(|t| t.find('\n').map(|n| e + n + 1)))
            .unwrap_or(block.len());
        let one = block.get(..end).unwrap_or_default();
        let (label, der) = pem_rfc7468::decode_vec(one.as_bytes())
            .map_err(|e| format!("malformed PEM block: {e}"))?;
        if label != "CERTIFICATE" {
            return Err(format!(
                "holds a {label} block; only CERTIFICATE blocks belong here"
            ));
        }
        certs.push(CertificateDer::from(der));
        rest = block.get(end..).unwrap_or_default();
    }
    if certs.is_empty() {
        return Err("no PEM certificate found".to_owned());
    }
    Ok(certs)
}

/// webpki, plus the exact-certificate rule for `ServerCertificate` (module documentation).
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => Ok(verified),
            // The exact certificate: its own checks decide, and their failure (name, dates)
            // says more than webpki's refusal of its constraints.
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                check_pinned(end_entity, server_name, now)
            }
            Err(error) => Err(error),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The checks an exact, trusted certificate still needs: it names the host, and today lies
/// within its validity period. The handshake signature is checked with its key as usual.
fn check_pinned(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let bad = |e: CertificateError| rustls::Error::InvalidCertificate(e);
    let end_entity =
        webpki::EndEntityCert::try_from(cert).map_err(|_| bad(CertificateError::BadEncoding))?;
    end_entity
        .verify_is_valid_for_subject_name(server_name)
        .map_err(|_| bad(CertificateError::NotValidForName))?;
    use der::Decode as _;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|_| bad(CertificateError::BadEncoding))?;
    let validity = parsed.tbs_certificate().validity();
    let now = now.as_secs();
    if now < validity.not_before.to_unix_duration().as_secs() {
        return Err(bad(CertificateError::NotValidYet));
    }
    if now > validity.not_after.to_unix_duration().as_secs() {
        return Err(bad(CertificateError::Expired));
    }
    Ok(ServerCertVerified::assertion())
}

fn tls_words(error: &rustls::Error, server_certificate: Option<&Path>) -> String {
    use rustls::CertificateError as C;
    let trusted = match server_certificate {
        Some(path) => format!(
            "ServerCertificate {} or the system's root certificates",
            path.display()
        ),
        None => "the system's root certificates (no ServerCertificate is configured)".to_owned(),
    };
    let rustls::Error::InvalidCertificate(cert) = error else {
        return match error {
            rustls::Error::AlertReceived(alert) => {
                let code = u8::from(*alert);
                format!(
                    "the TLS handshake failed: the server sent TLS alert {code} ({})",
                    alert_words(code)
                )
            }
            _ => "the TLS handshake with the server failed (no common protocol version or \
                  cipher suite, or a malformed TLS message)"
                .to_owned(),
        };
    };
    match cert {
        C::UnknownIssuer => format!(
            "the server's certificate is not issued by {trusted}, and is not that certificate \
             itself"
        ),
        C::Expired | C::ExpiredContext { .. } => {
            "the server's certificate has expired (check the device's clock)".to_owned()
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check the device's clock)".to_owned()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for the host name in the URL".to_owned()
        }
        C::BadSignature => "the server's certificate has an invalid signature".to_owned(),
        C::Revoked => "the server's certificate is revoked".to_owned(),
        C::BadEncoding => "the server's certificate is malformed".to_owned(),
        // webpki's reason sits behind an opaque `OtherError`; its name is the only handle.
        C::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => format!(
            "the server's certificate is not issued by {trusted}, and is not that certificate \
             itself (it is a CA certificate, CA:TRUE, presented as the server's own)"
        ),
        _ => format!("the server's certificate cannot be verified against {trusted}"),
    }
}

/// The TLS alerts a server sends when it refuses a client (RFC 8446 §6), in words.
fn alert_words(code: u8) -> &'static str {
    match code {
        40 => "handshake failure: no common cipher suite or parameters",
        42 | 46 => "the server does not accept this client's certificate",
        48 => "the server does not know the issuer of this client's certificate",
        70 => "no common TLS protocol version",
        112 => "the server does not serve the host name in the URL",
        116 => "the server requires a client certificate",
        _ => "see RFC 8446 section 6 for the code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_file_must_hold_only_certificates() {
        assert_eq!(
            read_pem_certificates(b"nothing here").unwrap_err(),
            "no PEM certificate found"
        );
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(
            read_pem_certificates(key.as_bytes())
                .unwrap_err()
                .contains("PRIVATE KEY block")
        );
    }

    #[test]
    fn certificate_failures_are_words_naming_what_is_trusted() {
        let words = tls_words(
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            Some(Path::new("/etc/mender/server.crt")),
        );
        assert_eq!(
            words,
            "the server's certificate is not issued by ServerCertificate \
             /etc/mender/server.crt or the system's root certificates, and is not that \
             certificate itself"
        );
        assert!(!words.contains("UnknownIssuer"));
    }
}
