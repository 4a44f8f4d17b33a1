//! The device's HTTPS client: where an `https://` source, the update channel and (later) the
//! Mender server agent get their bytes from.
//!
//! - [`url`]: `https://` URLs only; `http://` never opens a connection.
//! - [`tls`]: the trusted certificates (system roots plus `ServerCertificate`, spec §9).
//! - [`http`]: one HTTP/1.1 exchange and its head; [`body`]: lines and the framed body.
//! - [`download`]: a download that resumes with `Range`/`If-Range` over dropped links.
//! - [`retry`]: `[download]` settings and the back-off between attempts.
//!
//! Blocking, on purpose: the verifier reads a `Read`, and one download runs at a time.

pub mod body;
pub mod download;
pub mod http;
pub mod retry;
pub mod tls;
pub mod url;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use thiserror::Error;

use crate::error::{Class, Classify};
use download::{Download, Validator};
use http::{HttpError, Request, Response, Timeouts};
use retry::DownloadPolicy;
use tls::{TlsClient, TlsSetupError};
use url::{HttpsUrl, UrlError};

/// Most redirects followed for one request.
const MAX_REDIRECTS: u32 = 10;
/// How long a TCP connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTPS client: the trusted certificates, the download policy and the service's stop flag.
#[derive(Debug, Clone)]
pub struct Client {
    tls: TlsClient,
    policy: DownloadPolicy,
    cancel: Option<Arc<AtomicBool>>,
}

/// A request or download failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The URL (or a redirect's) cannot be used.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// `ServerCertificate` is unusable.
    #[error(transparent)]
    Setup(#[from] TlsSetupError),
    /// No answer: connection, TLS or a malformed answer.
    #[error("{url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        source: HttpError,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status} {}", reason(*status))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Redirected to a URL that cannot be followed (plain `http://`, say).
    #[error("{from}: redirected to {why}")]
    BadRedirect {
        /// The URL that redirected.
        from: String,
        /// Where to, and why it is refused.
        why: String,
    },
    /// Redirected too often.
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    Redirects {
        /// The URL.
        url: String,
    },
    /// The connection broke mid-body (resumed unless the retries run out).
    #[error("{url}: the connection broke at byte {at}: {source}")]
    Lost {
        /// The URL.
        url: String,
        /// Bytes received before.
        at: u64,
        /// Why.
        source: std::io::Error,
    },
    /// The file on the server changed during the download: nothing of two versions is mixed.
    #[error("{url}: the file changed on the server during the download ({why}); stopped")]
    Changed {
        /// The URL.
        url: String,
        /// What showed it.
        why: String,
    },
    /// The server gave no validator, so a resume could splice two versions.
    #[error(
        "{url}: the connection broke at byte {at} and cannot be resumed safely: the server \
         sent neither an ETag nor a Last-Modified header"
    )]
    NotResumable {
        /// The URL.
        url: String,
        /// Bytes received before.
        at: u64,
    },
    /// Retries or the deadline ran out.
    #[error("{url}: gave up at byte {at}: {why} (last problem: {last})")]
    GaveUp {
        /// The URL.
        url: String,
        /// Bytes received.
        at: u64,
        /// Which bound ran out.
        why: String,
        /// The last failure.
        last: String,
    },
    /// The service is stopping.
    #[error("the download was stopped: the service is stopping")]
    Cancelled,
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "(bad request)",
        401 => "(unauthorized)",
        403 => "(forbidden)",
        404 => "(not found: check the URL)",
        408 => "(request timeout)",
        410 => "(gone)",
        429 => "(too many requests)",
        500 => "(internal server error)",
        502 => "(bad gateway)",
        503 => "(service unavailable)",
        504 => "(gateway timeout)",
        _ => "",
    }
}

impl FetchError {
    pub(crate) fn status(url: &HttpsUrl, status: u16) -> Self {
        Self::Status {
            url: url.to_string(),
            status,
        }
    }

    /// Whether another attempt may succeed: a lost or refused connection, a server error.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { source, .. } => source.is_transient(),
            Self::Lost { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }
}

impl Classify for FetchError {
    fn class(&self) -> Class {
        match self {
            Self::Url(_) | Self::Setup(_) => Class::Config,
            Self::Http { source, .. } if source.is_transient() => Class::Interrupted,
            Self::Http { .. }
            | Self::Status { .. }
            | Self::BadRedirect { .. }
            | Self::Redirects { .. } => Class::Failed,
            Self::Lost { .. }
            | Self::Changed { .. }
            | Self::NotResumable { .. }
            | Self::GaveUp { .. }
            | Self::Cancelled => Class::Interrupted,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Url(UrlError::PlainHttp(_)) => "plain_http",
            Self::Url(_) => "bad_url",
            Self::Setup(_) => "server_certificate",
            Self::Http {
                source: HttpError::Tls(_),
                ..
            } => "tls",
            Self::Http {
                source: HttpError::Malformed { .. },
                ..
            } => "bad_answer",
            Self::Http { .. } | Self::Lost { .. } => "connection_lost",
            Self::Status { .. } | Self::Redirects { .. } => "download_failed",
            Self::BadRedirect { .. } => "bad_redirect",
            Self::Changed { .. } => "artifact_changed",
            Self::NotResumable { .. } => "not_resumable",
            Self::GaveUp { .. } => "download_gave_up",
            Self::Cancelled => "interrupted",
        }
    }
}

impl Client {
    /// A client trusting the system's roots and `server_certificate`.
    pub fn new(
        server_certificate: Option<&Path>,
        policy: DownloadPolicy,
    ) -> Result<Self, FetchError> {
        Self::with_identity(server_certificate, None, policy)
    }

    /// As [`Client::new`], with a client certificate for mutual TLS.
    pub fn with_identity(
        server_certificate: Option<&Path>,
        identity: Option<&tls::ClientIdentity>,
        policy: DownloadPolicy,
    ) -> Result<Self, FetchError> {
        Ok(Self {
            tls: TlsClient::with_identity(server_certificate, identity)?,
            policy,
            cancel: None,
        })
    }

    /// Stops waits and downloads when `flag` is set (the service stopping).
    pub fn with_cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// The download policy.
    pub fn policy(&self) -> &DownloadPolicy {
        &self.policy
    }

    /// One request, following redirects (to `https://` only); no retries. A redirect to
    /// another host drops the `Authorization` header: a token is for its own server only.
    pub fn send(&self, request: Request<'_>) -> Result<Response, FetchError> {
        let timeouts = Timeouts {
            connect: CONNECT_TIMEOUT,
            io: self.policy.stall(),
        };
        let mut url = request.url.clone();
        let origin = url.authority();
        for _ in 0..=MAX_REDIRECTS {
            let mut hop = Request {
                url: &url,
                ..request.clone()
            };
            if url.authority() != origin {
                hop.headers
                    .retain(|(name, _)| !name.eq_ignore_ascii_case("Authorization"));
            }
            let response =
                http::exchange(&self.tls, &hop, timeouts).map_err(|source| FetchError::Http {
                    url: url.to_string(),
                    source,
                })?;
            match (response.status(), response.header("Location")) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    url = url.join(location).map_err(|e| FetchError::BadRedirect {
                        from: url.to_string(),
                        why: match e {
                            UrlError::PlainHttp(to) => {
                                format!("plain http:// ({to}), which is refused")
                            }
                            other => other.to_string(),
                        },
                    })?;
                }
                _ => return Ok(response),
            }
        }
        Err(FetchError::Redirects {
            url: request.url.to_string(),
        })
    }

    /// Starts a resumable download of `url`; with `expect`, only that version of the file.
    pub fn download(
        &self,
        url: &HttpsUrl,
        expect: Option<Validator>,
    ) -> Result<Download, FetchError> {
        Download::start(self.clone(), url.clone(), expect)
    }

    fn check_cancel(&self) -> Result<(), FetchError> {
        match &self.cancel {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(FetchError::Cancelled),
            _ => Ok(()),
        }
    }

    /// Sleeps `wait`, waking early (with an error) when the service stops.
    pub fn sleep(&self, wait: Duration) -> Result<(), FetchError> {
        if retry::sleep_unless_stopped(wait, self.cancel.as_deref()) {
            Ok(())
        } else {
            Err(FetchError::Cancelled)
        }
    }
}
