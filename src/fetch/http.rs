//! One HTTP/1.1 exchange over TLS: connect, send the request, read the response head, and
//! hand out the body as a reader framed by `Content-Length` or chunked coding ([`super::body`]).
//! One request per connection (`Connection: close`): a download lives for minutes, and a
//! resume needs a fresh connection anyway.
//!
//! A read that waits longer than the stall timeout fails with `TimedOut` or `WouldBlock`
//! (the socket's read timeout), which the resumable download treats like a dropped link.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::pki_types::ServerName;
use thiserror::Error;

pub use super::body::Body;
use super::body::{Framing, Head, framing, plain, read_line};
use super::tls::TlsClient;
use super::url::HttpsUrl;

/// Largest response head read (status line and headers).
const MAX_HEAD_BYTES: u64 = 64 * 1024;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// Where.
    pub url: &'a HttpsUrl,
    /// Extra headers (`Host`, `Connection` and `Content-Length` are added here).
    pub headers: Vec<(&'static str, String)>,
    /// The body (empty for `GET`).
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A `GET` of `url`.
    pub fn get(url: &'a HttpsUrl) -> Self {
        Self {
            method: "GET",
            url,
            headers: Vec::new(),
            body: &[],
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the TCP connection.
    pub connect: Duration,
    /// For any one read or write once connected (the stall timeout).
    pub io: Duration,
}

/// The exchange failed before a response head arrived.
#[derive(Debug, Error)]
pub enum HttpError {
    /// No TCP connection (refused, unreachable, name not found, timed out).
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// `host:port`.
        target: String,
        /// Why.
        source: io::Error,
    },
    /// The TLS handshake refused the server (or the server refused us).
    #[error("{0}")]
    Tls(String),
    /// The connection broke or stalled.
    #[error("the connection to {target} failed: {source}")]
    Io {
        /// `host:port`.
        target: String,
        /// Why.
        source: io::Error,
    },
    /// The server's answer is not HTTP/1.1 as this client reads it.
    #[error("malformed answer from {target}: {why}")]
    Malformed {
        /// `host:port`.
        target: String,
        /// What is wrong.
        why: String,
    },
}

impl HttpError {
    /// Whether trying again may help: a connection that failed or broke, not a certificate
    /// or a malformed answer.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Io { .. })
    }
}

/// `Content-Range: bytes START-END/TOTAL` (RFC 9110 §14.4; TOTAL may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// The first byte sent.
    pub start: u64,
    /// The last byte sent.
    pub end: u64,
    /// The whole file's length, when given.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses the header's value; `None` when malformed or inconsistent.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix("bytes ")?;
        let (range, total) = rest.split_once('/')?;
        let (start, end) = range.split_once('-')?;
        let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
        if end < start {
            return None;
        }
        let total = match total {
            "*" => None,
            t => Some(t.parse::<u64>().ok().filter(|t| *t > end)?),
        };
        Some(Self { start, end, total })
    }
}

/// A response head and its body.
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first header of that name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Range` of a `206`, when well formed.
    pub fn content_range(&self) -> Option<ContentRange> {
        self.header("Content-Range").and_then(ContentRange::parse)
    }

    /// The body.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The body's length when the head announced one.
    pub fn content_length(&self) -> Option<u64> {
        match self.body.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        }
    }

    /// The whole body, up to `limit` bytes (for small JSON answers).
    pub fn read_to_vec(self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.body
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "the answer is over {limit} bytes"
            )));
        }
        Ok(out)
    }
}

/// Sends `request` and reads the response head.
pub fn exchange(
    tls: &TlsClient,
    request: &Request<'_>,
    timeouts: Timeouts,
) -> Result<Response, HttpError> {
    let url = request.url;
    let target = format!("{}:{}", url.host(), url.port());
    let tcp = connect(url, timeouts).map_err(|source| HttpError::Connect {
        target: target.clone(),
        source,
    })?;
    let name = ServerName::try_from(url.host().to_owned()).map_err(|_| HttpError::Malformed {
        target: target.clone(),
        why: "the host is not a valid DNS name or IP address".to_owned(),
    })?;
    let conn = rustls::ClientConnection::new(tls.config(), name)
        .map_err(|e| HttpError::Tls(tls.words(&e)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let io_error = |source: io::Error| match source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(e) => HttpError::Tls(tls.words(e)),
        None => HttpError::Io {
            target: target.clone(),
            source: plain(source),
        },
    };
    stream
        .write_all(&request_head(request))
        .and_then(|()| stream.write_all(request.body))
        .and_then(|()| stream.flush())
        .map_err(io_error)?;
    let mut conn = BufReader::with_capacity(64 * 1024, stream);
    let (status, headers) = read_head(&mut conn).map_err(|e| match e {
        Head::Io(source) => io_error(source),
        Head::Malformed(why) => HttpError::Malformed {
            target: target.clone(),
            why,
        },
        Head::TooLong => HttpError::Malformed {
            target: target.clone(),
            why: format!("the response head is over {MAX_HEAD_BYTES} bytes"),
        },
    })?;
    let framing =
        framing(request.method, status, &headers).map_err(|why| HttpError::Malformed {
            target: target.clone(),
            why,
        })?;
    Ok(Response {
        status,
        headers,
        body: Body { conn, framing },
    })
}

fn connect(url: &HttpsUrl, timeouts: Timeouts) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in (url.host(), url.port()).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeouts.connect) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeouts.io))?;
                tcp.set_write_timeout(Some(timeouts.io))?;
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn request_head(request: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: artifact-gate/{}\r\nConnection: close\r\n",
        request.method,
        request.url.target(),
        request.url.authority(),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if request.method != "GET" || !request.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The status and headers, skipping any `1xx` interim answers.
fn read_head(conn: &mut impl BufRead) -> Result<(u16, Vec<(String, String)>), Head> {
    let mut budget = MAX_HEAD_BYTES;
    loop {
        let status_line = read_line(conn, &mut budget)?;
        let mut parts = status_line.splitn(3, ' ');
        let (version, code) = (parts.next().unwrap_or_default(), parts.next());
        if !version.starts_with("HTTP/1.") {
            return Err(Head::Malformed(format!(
                "not an HTTP/1.x status line: {}",
                crate::error::escape::escaped(&status_line)
            )));
        }
        let status = code
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c))
            .ok_or_else(|| Head::Malformed("no valid status code".to_owned()))?;
        let mut headers = Vec::new();
        loop {
            let line = read_line(conn, &mut budget)?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                Head::Malformed(format!(
                    "header line without a colon: {}",
                    crate::error::escape::escaped(&line)
                ))
            })?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(Head::Malformed("malformed header name".to_owned()));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        }
        if status >= 200 {
            return Ok((status, headers));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<(u16, Vec<(String, String)>), String> {
        read_head(&mut text.as_bytes()).map_err(|e| match e {
            Head::Io(e) => format!("io: {e}"),
            Head::Malformed(w) => w,
            Head::TooLong => "too long".to_owned(),
        })
    }

    #[test]
    fn content_range_gives_start_end_and_total() {
        let range = |start, end, total| Some(ContentRange { start, end, total });
        assert_eq!(
            ContentRange::parse("bytes 100-199/200"),
            range(100, 199, Some(200))
        );
        assert_eq!(ContentRange::parse("bytes 5-9/*"), range(5, 9, None));
        for bad in [
            "bytes 9-5/10",
            "bytes 0-9/9",
            "items 0-1/2",
            "bytes */10",
            "bytes 1-2",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_status_and_headers_and_skips_interim_answers() {
        let (status, headers) = head(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nETag:  \"x\" \r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(status, 206);
        assert_eq!(
            headers,
            vec![
                ("Content-Range".to_owned(), "bytes 5-9/10".to_owned()),
                ("ETag".to_owned(), "\"x\"".to_owned())
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_http() {
        assert!(
            head("SSH-2.0-OpenSSH\r\n\r\n")
                .unwrap_err()
                .contains("not an HTTP/1.x")
        );
        assert!(
            head("HTTP/1.1 99 x\r\n\r\n")
                .unwrap_err()
                .contains("status code")
        );
        assert!(
            head("HTTP/1.1 200 OK\r\nbroken\r\n\r\n")
                .unwrap_err()
                .contains("colon")
        );
        assert!(
            head("HTTP/1.1 200 OK\r\nA: b")
                .unwrap_err()
                .starts_with("io:")
        );
    }
}
