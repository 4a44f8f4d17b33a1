//! The framing of an HTTP/1.1 response (RFC 9112 §2.2, §6–7): lines, and the body delimited by
//! `Content-Length`, chunked coding or the connection's end. Everything here reads from the
//! TLS stream of one exchange ([`super::http`]).

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;

pub(super) type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A response body.
pub struct Body {
    pub(super) conn: BufReader<Tls>,
    pub(super) framing: Framing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// This many bytes are left.
    Length(u64),
    /// Chunked: bytes left in the current chunk (0: a size line comes next), or done.
    Chunked { left: u64, done: bool },
    /// Until the server closes the connection.
    Close,
}

/// Why a line could not be read.
pub(super) enum Head {
    /// The connection failed.
    Io(io::Error),
    /// The bytes are not an HTTP line.
    Malformed(String),
    /// The line (or the head it belongs to) is over its budget.
    TooLong,
}

/// One line without its CRLF, counted against the head's budget.
pub(super) fn read_line(conn: &mut impl BufRead, budget: &mut u64) -> Result<String, Head> {
    let mut line = Vec::new();
    let n = conn
        .take(*budget)
        .read_until(b'\n', &mut line)
        .map_err(Head::Io)?;
    *budget = budget.saturating_sub(n as u64);
    if !line.ends_with(b"\n") {
        return Err(if *budget == 0 {
            Head::TooLong
        } else {
            Head::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the response head",
            ))
        });
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| Head::Malformed("a header is not UTF-8".to_owned()))
}

/// How the body of an answer to `method` with `status` and `headers` is delimited
/// (RFC 9112 §6.3).
pub(super) fn framing(
    method: &str,
    status: u16,
    headers: &[(String, String)],
) -> Result<Framing, String> {
    if method == "HEAD" || status == 204 || status == 304 {
        return Ok(Framing::Length(0));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(coding) = get("Transfer-Encoding") {
        if coding.eq_ignore_ascii_case("chunked") {
            return Ok(Framing::Chunked {
                left: 0,
                done: false,
            });
        }
        return Err(format!("unsupported Transfer-Encoding '{coding}'"));
    }
    match get("Content-Length") {
        Some(n) => n
            .parse::<u64>()
            .map(Framing::Length)
            .map_err(|_| format!("bad Content-Length '{n}'")),
        None => Ok(Framing::Close),
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Length(0) | Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Length(left) => {
                let n = self.read_at_most(buf, left, || {
                    format!("the connection closed with {left} bytes of the body unsent")
                })?;
                self.framing = Framing::Length(left - n as u64);
                Ok(n)
            }
            Framing::Chunked { left: 0, .. } => {
                let size = self.chunk_size()?;
                if size == 0 {
                    self.trailers()?;
                    self.framing = Framing::Chunked {
                        left: 0,
                        done: true,
                    };
                    return Ok(0);
                }
                self.framing = Framing::Chunked {
                    left: size,
                    done: false,
                };
                self.read(buf)
            }
            Framing::Chunked { left, .. } => {
                let n = self.read_at_most(buf, left, || {
                    "the connection closed inside a chunk".to_owned()
                })?;
                let left = left - n as u64;
                if left == 0 {
                    self.chunk_end()?;
                }
                self.framing = Framing::Chunked { left, done: false };
                Ok(n)
            }
            Framing::Close => self.conn.read(buf).map_err(plain),
        }
    }
}

/// A broken or stalled connection in words (rustls' own text links to its manual).
pub(super) fn plain(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection early",
        ),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            "no data arrived within the stall timeout",
        ),
        _ => e,
    }
}

impl Body {
    /// One read of at most `left` bytes; the connection's end before them is an error.
    fn read_at_most(
        &mut self,
        buf: &mut [u8],
        left: u64,
        closed: impl FnOnce() -> String,
    ) -> io::Result<usize> {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self
            .conn
            .read(buf.get_mut(..want).unwrap_or_default())
            .map_err(plain)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, closed()));
        }
        Ok(n)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut budget = 4096;
        read_line(&mut self.conn, &mut budget).map_err(|e| match e {
            Head::Io(e) => plain(e),
            Head::Malformed(why) => io::Error::new(io::ErrorKind::InvalidData, why),
            Head::TooLong => io::Error::new(
                io::ErrorKind::InvalidData,
                "a line of the chunked body is over 4096 bytes",
            ),
        })
    }

    fn chunk_size(&mut self) -> io::Result<u64> {
        let line = self.line()?;
        let digits = line.split(';').next().unwrap_or_default().trim();
        u64::from_str_radix(digits, 16).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed chunk size in the body",
            )
        })
    }

    fn chunk_end(&mut self) -> io::Result<()> {
        if self.line()?.is_empty() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a chunk is longer than its size line says",
            ))
        }
    }

    fn trailers(&mut self) -> io::Result<()> {
        for _ in 0..64 {
            if self.line()?.is_empty() {
                return Ok(());
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many trailer lines",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_bodies_by_their_head() {
        let h = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            framing("GET", 304, &h(&[("Content-Length", "9")])),
            Ok(Framing::Length(0))
        );
        assert_eq!(
            framing("GET", 200, &h(&[("content-length", "9")])),
            Ok(Framing::Length(9))
        );
        assert_eq!(
            framing("GET", 200, &h(&[("Transfer-Encoding", "chunked")])),
            Ok(Framing::Chunked {
                left: 0,
                done: false
            })
        );
        assert_eq!(framing("GET", 200, &[]), Ok(Framing::Close));
        assert!(framing("GET", 200, &h(&[("Transfer-Encoding", "gzip")])).is_err());
        assert!(framing("GET", 200, &h(&[("Content-Length", "-1")])).is_err());
    }
}
