//! What can go wrong in the byte stream, spelled once: [`StreamError`].
//!
//! The adapters ([`super::SourceReader`], [`super::ExactReader`], the inflate worker, the
//! extension guard) report through it wrapped in an `io::Error`, which decoders and the tar
//! reader pass through unchanged; [`StreamError::recover`] takes it out again where the reader
//! decides what the failure means. Anything else a decoder or the tar reader says is
//! [`StreamError::Cut`] or [`StreamError::Malformed`].

use std::io;

use thiserror::Error;

use crate::artifact::tar_rules::BadPax;

/// A failure of the byte stream under the artifact reader.
#[derive(Debug, Error)]
pub enum StreamError {
    /// The input failed (not the artifact's fault): a read error from the file, pipe or socket.
    #[error("reading the input failed: {0}")]
    Source(io::Error),
    /// The input grew past the configured maximum artifact size.
    #[error("artifact is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The cap that was passed.
        limit: u64,
    },
    /// A compressed stream inflated past the ratio guard
    /// ([`crate::stream::limits::Limits::max_inflate_ratio`]).
    #[error("inflates more than {limit}:1 ({inflated} bytes from {compressed} compressed bytes)")]
    InflateRatio {
        /// The guard's ratio.
        limit: u64,
        /// Bytes produced so far.
        inflated: u64,
        /// Compressed bytes consumed so far.
        compressed: u64,
    },
    /// A tar member ended before its declared size.
    #[error("member ends after {found} of its {expected} bytes")]
    Truncated {
        /// Bytes the member header declared.
        expected: u64,
        /// Bytes that actually arrived.
        found: u64,
    },
    /// A decoder ran out of input before its end marker.
    #[error("the stream stops before its end marker")]
    Cut,
    /// A malformed PAX extended header.
    #[error(transparent)]
    BadPax(BadPax),
    /// Anything else: malformed compressed data or tar structure.
    #[error("{0}")]
    Malformed(String),
}

impl StreamError {
    /// Wrapped for a `Read` implementation.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// Takes an adapter's error out of `err`, or says what a decoder's or the tar reader's own
    /// error means.
    pub fn recover(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|e| e.is::<Self>()) {
            return match err.into_inner().map(|inner| inner.downcast::<Self>()) {
                Some(Ok(own)) => *own,
                // The `is` check above makes this unreachable; stay total regardless.
                _ => Self::Malformed("stream fault".to_owned()),
            };
        }
        if let Some(pax) = err.get_ref().and_then(|e| e.downcast_ref::<BadPax>()) {
            return Self::BadPax(pax.clone());
        }
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return Self::Cut;
        }
        Self::Malformed(err.to_string())
    }
}
