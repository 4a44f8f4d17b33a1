//! Where an artifact's bytes come from: a file, standard input, or an `https://` URL.
//!
//! Every source is read once, as a stream; a download is never stored whole. HTTPS uses rustls
//! (ring) and trusts the system's root certificates plus the `ServerCertificate` from
//! mender.conf (spec §9). Plain `http://` is refused, and so is a redirect to it.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

/// Where to read an artifact from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// An `https://` URL.
    Url(String),
    /// A local file.
    File(PathBuf),
}

/// The source could not be opened.
#[derive(Debug, Error)]
pub enum SourceError {
    /// A local file.
    #[error("cannot open {path}: {source}")]
    Open {
        /// Path.
        path: String,
        /// Cause.
        source: io::Error,
    },
    /// `http://` without TLS.
    #[error("refusing plain http:// ({0}); use https://")]
    PlainHttp(String),
    /// `ServerCertificate` could not be read.
    #[error("ServerCertificate {path}: {problem}")]
    ServerCertificate {
        /// Path.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The download failed: connection, TLS, redirect or HTTP status.
    #[error("downloading {url} failed: {problem}")]
    Download {
        /// URL.
        url: String,
        /// What went wrong.
        problem: String,
    },
}

impl Source {
    /// Interprets a command-line argument.
    pub fn parse(arg: &Path) -> Self {
        let text = arg.to_string_lossy();
        if text == "-" {
            Self::Stdin
        } else if text.starts_with("https://") || text.starts_with("http://") {
            Self::Url(text.into_owned())
        } else {
            Self::File(arg.to_owned())
        }
    }

    /// Opens the source for one streaming read.
    pub fn open(
        &self,
        server_certificate: Option<&Path>,
    ) -> Result<Box<dyn Read + Send>, SourceError> {
        let reader: Box<dyn Read + Send> = match self {
            Self::Stdin => Box::new(io::stdin()),
            Self::File(path) => {
                Box::new(
                    std::fs::File::open(path).map_err(|source| SourceError::Open {
                        path: path.display().to_string(),
                        source,
                    })?,
                )
            }
            Self::Url(url) => Box::new(download(url, server_certificate)?),
        };
        Ok(Box::new(BufReader::with_capacity(256 * 1024, reader)))
    }
}

fn download(
    url: &str,
    server_certificate: Option<&Path>,
) -> Result<impl Read + Send + use<>, SourceError> {
    if url.starts_with("http://") {
        return Err(SourceError::PlainHttp(url.to_owned()));
    }
    let mut roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(path) = server_certificate {
        let cert_error = |problem: String| SourceError::ServerCertificate {
            path: path.to_owned(),
            problem,
        };
        let pem = std::fs::read(path).map_err(|e| cert_error(e.to_string()))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item.map_err(|e| cert_error(e.to_string()))? {
                ureq::tls::PemItem::Certificate(cert) => roots.push(cert),
                _ => {
                    return Err(cert_error(
                        "holds something other than certificates".to_owned(),
                    ));
                }
            }
        }
        if roots.len() == before {
            return Err(cert_error("no PEM certificate found".to_owned()));
        }
    }
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .max_redirects(MAX_REDIRECTS)
        .http_status_as_error(true)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| SourceError::Download {
        url: url.to_owned(),
        problem: download_words(&e, server_certificate),
    })?;
    Ok(response.into_body().into_reader())
}

/// A download failure in words: TLS failures are named by what the operator can check (the
/// trusted certificates, the clock, the host name), never printed as rustls' debug form.
fn download_words(error: &ureq::Error, server_certificate: Option<&Path>) -> String {
    match tls_cause(error) {
        Some(tls) => tls_words(tls, server_certificate),
        None => error.to_string(),
    }
}

/// The rustls error behind a ureq error, if any (directly, or inside an I/O error).
fn tls_cause(error: &ureq::Error) -> Option<&rustls::Error> {
    match error {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    }
}

fn tls_words(error: &rustls::Error, server_certificate: Option<&Path>) -> String {
    use rustls::CertificateError as C;
    let trusted = match server_certificate {
        Some(path) => format!(
            "the system's root certificates or ServerCertificate {}",
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
        C::UnknownIssuer => {
            format!(
                "the server's certificate is not issued by any certificate trusted here ({trusted})"
            )
        }
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
        // webpki's reason sits behind an opaque `OtherError`; its name is the only handle.
        C::Other(other) if other.to_string().contains("CaUsedAsEndEntity") => format!(
            "the server presents a CA certificate (CA:TRUE) as its own certificate, which is \
             accepted only from an issuer among {trusted}"
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

const MAX_REDIRECTS: u32 = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
