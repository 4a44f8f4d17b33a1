//! Where an artifact's bytes come from: a file, standard input, or an `https://` URL.
//!
//! Every source is read once, as a stream; a download is never stored whole. HTTPS goes through
//! [`crate::fetch`]: it trusts the system's root certificates plus the `ServerCertificate` from
//! mender.conf (spec §9), resumes over dropped links, and refuses plain `http://` and redirects
//! to it.

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use thiserror::Error;

use crate::fetch::retry::DownloadPolicy;
use crate::fetch::url::HttpsUrl;
use crate::fetch::{Client, FetchError};

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
    /// The download could not start: URL, TLS, connection or HTTP status.
    #[error("downloading {0}")]
    Fetch(#[from] FetchError),
}

/// An opened source: its reader and, when known, its length.
pub type Opened = (Box<dyn Read + Send>, Option<u64>);

/// How an `https://` source is fetched.
#[derive(Debug, Clone, Default)]
pub struct UrlOptions {
    /// `ServerCertificate` from mender.conf.
    pub server_certificate: Option<PathBuf>,
    /// `[download]`.
    pub policy: DownloadPolicy,
    /// Set when the service stops: waits between attempts end at once.
    pub cancel: Option<Arc<AtomicBool>>,
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
    /// Returns the reader and, when known, the length (a regular file's size, a download's
    /// `Content-Length`), for progress.
    pub fn open(&self, url_options: &UrlOptions) -> Result<Opened, SourceError> {
        let (reader, length): Opened = match self {
            Self::Stdin => (Box::new(io::stdin()), None),
            Self::File(path) => {
                let file = std::fs::File::open(path).map_err(|source| SourceError::Open {
                    path: path.display().to_string(),
                    source,
                })?;
                let length = file
                    .metadata()
                    .ok()
                    .filter(std::fs::Metadata::is_file)
                    .map(|m| m.len());
                (Box::new(file), length)
            }
            Self::Url(url) => {
                let mut client = Client::new(
                    url_options.server_certificate.as_deref(),
                    url_options.policy.clone(),
                )?;
                if let Some(cancel) = &url_options.cancel {
                    client = client.with_cancel(cancel.clone());
                }
                let download =
                    client.download(&HttpsUrl::parse(url).map_err(FetchError::from)?, None)?;
                let length = download.total();
                (Box::new(download), length)
            }
        };
        Ok((
            Box::new(BufReader::with_capacity(256 * 1024, reader)),
            length,
        ))
    }
}
