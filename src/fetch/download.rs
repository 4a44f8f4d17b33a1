//! A download that survives a bad link: one continuous stream for the verifier, however many
//! connections it takes.
//!
//! When the connection drops, stalls or times out, [`Download`] reconnects and asks for the rest
//! with `Range: bytes=N-` and `If-Range` (the first answer's strong `ETag`, else its
//! `Last-Modified`; RFC 9110 §13.1.5, §14.2). Only a `206` whose `Content-Range` starts at N,
//! with the same total length and validator, continues the stream. Anything else — a `200`, a
//! `412` or `416`, another length or validator — means the file changed on the server: the read
//! fails as `interrupted` and no byte of the new version joins the old. The pipeline above never
//! restarts; it only sees a reader that paused.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::http::{Body, ContentRange, Request, Response};
use super::retry::backoff;
use super::url::HttpsUrl;
use super::{Client, FetchError};

/// What identifies one version of the file on the server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// A strong `ETag`, quotes included.
    Etag(String),
    /// `Last-Modified`, as the server wrote it.
    LastModified(String),
}

impl Validator {
    /// The validator of an answer: its strong ETag, else its Last-Modified (a weak ETag
    /// cannot be used with `If-Range`).
    pub fn of(response: &Response) -> Option<Self> {
        match response.header("ETag") {
            Some(tag) if tag.starts_with('"') => Some(Self::Etag(tag.to_owned())),
            _ => response
                .header("Last-Modified")
                .map(|d| Self::LastModified(d.to_owned())),
        }
    }

    /// The header value as sent in `If-Range`.
    pub fn value(&self) -> &str {
        match self {
            Self::Etag(v) | Self::LastModified(v) => v,
        }
    }
}

impl std::fmt::Display for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Etag(v) => write!(f, "ETag {v}"),
            Self::LastModified(v) => write!(f, "Last-Modified {v}"),
        }
    }
}

/// A resumable download, read as one stream.
pub struct Download {
    client: Client,
    url: HttpsUrl,
    body: Option<Body>,
    /// Bytes handed to the reader so far.
    offset: u64,
    total: Option<u64>,
    validator: Option<Validator>,
    /// Attempts in a row without a new byte.
    failures: u32,
    resumes: Arc<AtomicU32>,
    started: Instant,
    /// The end was reached (and logged).
    finished: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("url", &self.url.to_string())
            .field("offset", &self.offset)
            .field("total", &self.total)
            .field("resumes", &self.resumes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Download {
    /// Starts the download of `url`. With `expect`, the file must still be that version (the
    /// one a probe looked at); otherwise the download stops as changed before its first byte.
    /// A failed first connection is retried like a resume.
    pub(super) fn start(
        client: Client,
        url: HttpsUrl,
        expect: Option<Validator>,
    ) -> Result<Self, FetchError> {
        let mut download = Self {
            client,
            url,
            body: None,
            offset: 0,
            total: None,
            validator: expect,
            failures: 0,
            resumes: Arc::new(AtomicU32::new(0)),
            started: Instant::now(),
            finished: false,
        };
        let mut last = match download.connect() {
            Ok(()) => return Ok(download),
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        loop {
            download.wait_before_retry(&last)?;
            match download.connect() {
                Ok(()) => return Ok(download),
                Err(e) if e.is_transient() => last = e,
                Err(e) => return Err(e),
            }
        }
    }

    /// The file's length, once an answer has told it.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The version being downloaded.
    pub fn validator(&self) -> Option<&Validator> {
        self.validator.as_ref()
    }

    /// How many times the download reconnected, readable after the download was handed on.
    pub fn resume_counter(&self) -> Arc<AtomicU32> {
        self.resumes.clone()
    }

    /// One connection: the whole file at offset 0, else the rest from `offset`.
    fn connect(&mut self) -> Result<(), FetchError> {
        let url = self.url.clone();
        let mut request = Request::get(&url);
        let resuming = self.offset > 0;
        if resuming {
            let Some(validator) = &self.validator else {
                return Err(FetchError::NotResumable {
                    url: self.url.to_string(),
                    at: self.offset,
                });
            };
            request = request
                .header("Range", format!("bytes={}-", self.offset))
                .header("If-Range", validator.value());
        }
        let response = self.client.send(request)?;
        let changed = |why: String| FetchError::Changed {
            url: url.to_string(),
            why,
        };
        match (response.status(), resuming) {
            (200, false) => {
                let found = Validator::of(&response);
                if let Some(expected) = &self.validator
                    && found.as_ref() != Some(expected)
                {
                    return Err(changed(format!(
                        "it was {expected} when checked and is {} now",
                        found.map_or("unversioned".to_owned(), |v| v.to_string())
                    )));
                }
                self.validator = found;
                self.total = response.content_length();
            }
            (206, true) => {
                let ContentRange { start, total, .. } =
                    response.content_range().ok_or_else(|| {
                        changed(format!(
                            "the resume's Content-Range '{}' is malformed",
                            response.header("Content-Range").unwrap_or_default()
                        ))
                    })?;
                if start != self.offset {
                    return Err(changed(format!(
                        "the resume starts at byte {start}, not at {}",
                        self.offset
                    )));
                }
                if let (Some(known), Some(now)) = (self.total, total)
                    && known != now
                {
                    return Err(changed(format!(
                        "its length changed from {known} to {now} bytes"
                    )));
                }
                if let (Some(expected), Some(found)) = (&self.validator, Validator::of(&response))
                    && matches!(found, Validator::Etag(_))
                    && matches!(expected, Validator::Etag(_))
                    && &found != expected
                {
                    return Err(changed(format!("its ETag changed to {}", found.value())));
                }
                self.total = self.total.or(total);
            }
            (200, true) => {
                return Err(changed(
                    "the server answered the resume with the whole file (200): it no longer \
                     matches the version being downloaded"
                        .to_owned(),
                ));
            }
            (412 | 416, true) => {
                return Err(changed(format!(
                    "the server refused the resume ({}): the file no longer matches",
                    response.status()
                )));
            }
            (status, _) => return Err(FetchError::status(&url, status)),
        }
        self.body = Some(response.into_body());
        Ok(())
    }

    /// Sleeps before the next attempt, or gives up: retries used up, deadline near, or the
    /// service stopping.
    fn wait_before_retry(&mut self, cause: &FetchError) -> Result<(), FetchError> {
        let policy = self.client.policy();
        let elapsed = self.started.elapsed();
        let gave_up = |why: String| FetchError::GaveUp {
            url: self.url.to_string(),
            at: self.offset,
            why,
            last: cause.to_string(),
        };
        if self.failures >= policy.retries {
            return Err(gave_up(format!(
                "{} retries in a row brought no new data",
                self.failures
            )));
        }
        let wait = backoff(self.failures, Duration::from_secs(60));
        if elapsed + wait >= policy.deadline() {
            return Err(gave_up(format!(
                "the download deadline of {} s is reached",
                policy.deadline_seconds
            )));
        }
        self.failures += 1;
        let of = self.total.map(|t| format!(" of {t}")).unwrap_or_default();
        tracing::warn!(
            url = %self.url,
            "download interrupted at byte {}{of} ({cause}); attempt {} of {} in {:.1} s",
            self.offset,
            self.failures,
            policy.retries,
            wait.as_secs_f64()
        );
        self.client.sleep(wait)
    }

    fn rate_cap(&self) {
        let Some(rate) = self.client.policy().max_bytes_per_second else {
            return;
        };
        let due = Duration::from_secs_f64(self.offset as f64 / rate as f64);
        if let Some(early) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(early);
        }
    }

    fn read_once(&mut self, buf: &mut [u8]) -> Result<usize, FetchError> {
        loop {
            if self.started.elapsed() >= self.client.policy().deadline() {
                return Err(FetchError::GaveUp {
                    url: self.url.to_string(),
                    at: self.offset,
                    why: format!(
                        "the download deadline of {} s is reached",
                        self.client.policy().deadline_seconds
                    ),
                    last: "still downloading".to_owned(),
                });
            }
            self.client.check_cancel()?;
            let cause = match self.body.as_mut().map(|b| b.read(buf)) {
                Some(Ok(0)) if self.total.is_none_or(|t| self.offset >= t) => {
                    self.finish();
                    return Ok(0);
                }
                Some(Ok(0)) => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before the end of the file",
                ),
                Some(Ok(n)) => {
                    self.offset += n as u64;
                    self.failures = 0;
                    return Ok(n);
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Some(Err(e)) => e,
                None => io::Error::new(io::ErrorKind::NotConnected, "not connected"),
            };
            self.body = None;
            let mut cause = FetchError::Lost {
                url: self.url.to_string(),
                at: self.offset,
                source: cause,
            };
            loop {
                self.wait_before_retry(&cause)?;
                self.resumes.fetch_add(1, Ordering::Relaxed);
                match self.connect() {
                    Ok(()) => break,
                    Err(e) if e.is_transient() => cause = e,
                    Err(e) => return Err(e),
                }
            }
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let resumes = self.resumes.load(Ordering::Relaxed);
        let plural = if resumes == 1 { "" } else { "s" };
        // Resumes are worth an operator's eye (a flaky link); a clean download is routine.
        if resumes > 0 {
            tracing::warn!(
                url = %self.url,
                bytes = self.offset,
                "download complete after {resumes} resume{plural}"
            );
        } else {
            tracing::info!(url = %self.url, bytes = self.offset, "download complete after 0 resumes");
        }
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // An empty read is no sign of a lost connection (readers do make them).
        if buf.is_empty() {
            return Ok(0);
        }
        let limit = match self.client.policy().max_bytes_per_second {
            // Small reads, so the cap holds over short spans too.
            Some(rate) => usize::try_from(rate / 8).unwrap_or(usize::MAX).max(1024),
            None => buf.len(),
        };
        let n = buf.len().min(limit);
        let n = self
            .read_once(buf.get_mut(..n).unwrap_or_default())
            .map_err(io::Error::other)?;
        self.rate_cap();
        Ok(n)
    }
}
