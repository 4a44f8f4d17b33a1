//! One poll of the channel: the conditional request for the artifact's first bytes, and the
//! decision its signed head leads to. The install itself is the caller's (the daemon's), through
//! the same flow as every other install.

use super::PollResult;
use super::head::{HeadError, read_head};
use super::memory::Seen;
use super::window::{FIRST_WINDOW, Windows};
use crate::artifact::ReadOptions;
use crate::error::{Classify, Failure};
use crate::fetch::download::Validator;
use crate::fetch::http::Request;
use crate::fetch::url::HttpsUrl;
use crate::fetch::{Client, FetchError};

/// What one poll decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `304`: the file is the one seen last time.
    Unchanged,
    /// `404` or `410`: nothing is published for this device.
    NothingPublished,
    /// The head settles it without a download: up to date, skipped or refused.
    Settled(PollResult),
    /// A new artifact for this device: download and install it, as this version of the file.
    Install {
        /// Its name.
        artifact_name: String,
    },
}

/// The poll's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    /// The version of the file the verdict is about.
    pub validator: Option<Validator>,
    /// What to do.
    pub verdict: Verdict,
    /// Bytes of the artifact read to decide.
    pub head_bytes: u64,
}

/// Polls `url`; `seen` is what its last version led to, `installed` the installed
/// `artifact_name`.
pub fn check(
    client: &Client,
    url: &HttpsUrl,
    seen: Option<&Seen>,
    options: &ReadOptions,
    installed: Option<&str>,
) -> Result<Poll, Failure> {
    let mut request = Request::get(url).header("Range", format!("bytes=0-{}", FIRST_WINDOW - 1));
    match seen.map(|s| &s.validator) {
        Some(Validator::Etag(tag)) => request = request.header("If-None-Match", tag.clone()),
        Some(Validator::LastModified(date)) => {
            request = request.header("If-Modified-Since", date.clone());
        }
        None => {}
    }
    let response = client.send(request).map_err(|e| e.failure())?;
    let validator = Validator::of(&response);
    let end = match response.status() {
        304 => {
            return Ok(Poll {
                validator: seen.map(|s| s.validator.clone()),
                verdict: Verdict::Unchanged,
                head_bytes: 0,
            });
        }
        404 | 410 => {
            return Ok(Poll {
                validator,
                verdict: Verdict::NothingPublished,
                head_bytes: 0,
            });
        }
        206 => Some(
            response
                .content_range()
                .map_or(FIRST_WINDOW, |range| range.end + 1),
        ),
        // The server ignores Range: the head is read from the whole file's first bytes and
        // the connection is dropped there.
        200 => None,
        status => return Err(FetchError::status(url, status).failure()),
    };
    let cap = options.limits.max_header_bytes.saturating_add(1 << 20);
    let mut windows = Windows::new(
        client.clone(),
        url.clone(),
        validator.clone(),
        response.into_body(),
        end,
        cap,
    );
    let head = read_head(&mut windows, options);
    let settled = |result: &str, detail: String, artifact_name: Option<String>| {
        Verdict::Settled(PollResult {
            result: result.to_owned(),
            detail,
            artifact_name,
        })
    };
    let verdict = match head {
        Ok(head) if installed == Some(head.artifact_name.as_str()) => settled(
            "up to date",
            format!("{} is installed", head.artifact_name),
            Some(head.artifact_name),
        ),
        Ok(head) => Verdict::Install {
            artifact_name: head.artifact_name,
        },
        Err(HeadError::NotForThisDevice(why)) => settled("skipped", why.to_string(), None),
        Err(HeadError::Rejected(why)) => settled("rejected", why.to_string(), None),
        Err(HeadError::Unreadable(e)) => return Err(e.failure()),
    };
    Ok(Poll {
        validator,
        verdict,
        head_bytes: windows.bytes_read(),
    })
}
