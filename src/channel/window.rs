//! The first bytes of an artifact, fetched in growing `Range` windows: enough for its signed
//! head, never the payload. The first window comes with the poll's answer; each further one is
//! four times larger, asked with `If-Range` so a file replaced in between is noticed, and the
//! whole stays under a cap (the header limit plus room for `version`, `manifest` and the
//! signature).

use std::io::{self, Read};

use crate::fetch::download::Validator;
use crate::fetch::http::{Body, Request};
use crate::fetch::url::HttpsUrl;
use crate::fetch::{Client, FetchError};

/// The first window's size: a typical artifact's head fits with room to spare.
pub const FIRST_WINDOW: u64 = 64 * 1024;

/// A reader over the artifact's first bytes.
pub struct Windows {
    client: Client,
    url: HttpsUrl,
    validator: Option<Validator>,
    body: Body,
    offset: u64,
    /// Where the current window ends; `None` when the server sent the whole file.
    end: Option<u64>,
    next_size: u64,
    cap: u64,
}

impl Windows {
    /// Continues from a first answer: `ranged` when it was a `206` ending at `end`.
    pub fn new(
        client: Client,
        url: HttpsUrl,
        validator: Option<Validator>,
        body: Body,
        end: Option<u64>,
        cap: u64,
    ) -> Self {
        Self {
            client,
            url,
            validator,
            body,
            offset: 0,
            end,
            next_size: FIRST_WINDOW * 4,
            cap,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }

    fn next_window(&mut self) -> Result<bool, FetchError> {
        if self.offset >= self.cap {
            return Ok(false);
        }
        let last = (self.offset + self.next_size).min(self.cap) - 1;
        let url = self.url.clone();
        let mut request =
            Request::get(&url).header("Range", format!("bytes={}-{last}", self.offset));
        if let Some(v) = &self.validator {
            request = request.header("If-Range", v.value());
        }
        let response = self.client.send(request)?;
        let starts_here = response
            .content_range()
            .is_some_and(|range| range.start == self.offset);
        match response.status() {
            206 if starts_here => {}
            // 416: the file ends where the last window did.
            416 => return Ok(false),
            status => {
                return Err(FetchError::Changed {
                    url: url.to_string(),
                    why: format!(
                        "asked for bytes {}-{last}, the server answered {status} {}",
                        self.offset,
                        response.header("Content-Range").unwrap_or_default()
                    ),
                });
            }
        }
        self.body = response.into_body();
        self.end = Some(last + 1);
        self.next_size = self.next_size.saturating_mul(4);
        Ok(true)
    }
}

impl Read for Windows {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.body.read(buf)?;
            if n > 0 {
                self.offset += n as u64;
                return Ok(n);
            }
            match self.end {
                Some(end) if self.offset >= end => {
                    if !self.next_window().map_err(io::Error::other)? {
                        return Ok(0);
                    }
                }
                _ => return Ok(0),
            }
        }
    }
}
