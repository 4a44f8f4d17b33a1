//! Rules every tar member of an artifact obeys (outer tar, header tar, payload tar), and the
//! end-of-archive check.
//!
//! Spec §1.2/§12.5: only regular files (no directories, links, devices, FIFOs, sparse files or
//! global PAX headers), names that are relative, NUL-free and without `..`, and after the
//! end-of-archive marker nothing but zero bytes. Tar parsing itself (ustar, GNU long names, PAX
//! records including sizes over 8 GiB) is the `tar` crate's; the crate silently skips a PAX
//! record it cannot parse and falls back to the ustar field, which would repair a malformed
//! header instead of refusing it, so `ExtensionGuard` checks every PAX record itself
//! (`check_pax`) and fails closed, as Go's archive/tar and GNU tar do.
//!
//! Global PAX headers (`g`) and sparse members (GNU type `S`, or the `GNU.sparse.*` records of
//! PAX sparse formats 0.x and 1.0) are refused: mender-artifact's writer (Go archive/tar with no
//! fixed format) never writes either, and both change how later bytes are read.

use std::fmt;
use std::io::{self, Read};

use thiserror::Error;

use super::Rejection;

use super::pax::{PaxFacts, check_pax_into};

pub use super::pax::{BadPax, PaxDefect, PaxProblem};

/// Why a member name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryNameError {
    /// Not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// Empty.
    #[error("name is empty")]
    Empty,
    /// Contains NUL.
    #[error("name contains a NUL byte")]
    Nul,
    /// Starts with `/`.
    #[error("name is an absolute path")]
    Absolute,
    /// Has a `..` component.
    #[error("name contains a '..' component (path traversal)")]
    Traversal,
    /// Longer than the limit.
    #[error("name is longer than {0} bytes")]
    TooLong(usize),
}

/// The end of a tar stream was not clean.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TarEnd {
    /// The stream stopped without the two zero blocks that end a tar archive.
    #[error("no end-of-archive marker (stream truncated)")]
    MissingMarker,
    /// Non-zero bytes after the end-of-archive marker.
    #[error("non-zero data {offset} bytes after the end-of-archive marker")]
    TrailingData {
        /// Offset of the first non-zero byte, counted from after the first zero block.
        offset: u64,
    },
    /// More zero padding after the end-of-archive marker than the limit allows.
    #[error("more than {limit} bytes of zero padding after the end-of-archive marker")]
    TooMuchPadding {
        /// `Limits::max_tar_padding_bytes`.
        limit: u64,
    },
}

/// The member's path, checked. On error returns the lossy name with the reason.
pub(crate) fn member_name<R: Read>(
    entry: &tar::Entry<'_, R>,
    max_len: usize,
) -> Result<String, (String, EntryNameError)> {
    let raw = entry.path_bytes();
    let lossy = String::from_utf8_lossy(&raw).into_owned();
    let fail = |reason| Err((lossy.clone(), reason));
    if raw.contains(&0) {
        return fail(EntryNameError::Nul);
    }
    let Ok(name) = std::str::from_utf8(&raw) else {
        return fail(EntryNameError::NotUtf8);
    };
    if name.is_empty() {
        return fail(EntryNameError::Empty);
    }
    if name.len() > max_len {
        return fail(EntryNameError::TooLong(max_len));
    }
    if name.starts_with('/') {
        return fail(EntryNameError::Absolute);
    }
    if name.split('/').any(|c| c == "..") {
        return fail(EntryNameError::Traversal);
    }
    Ok(name.to_owned())
}

/// A member of the outer or the payload tar, checked (spec §1.2, §12.5): its name is safe and
/// it is a regular file. Returns the name; the rejection names `container`.
pub(crate) fn checked_member<R: Read>(
    entry: &tar::Entry<'_, R>,
    container: &'static str,
    max_len: usize,
) -> Result<String, Rejection> {
    let name = member_name(entry, max_len).map_err(|(entry, reason)| Rejection::BadEntryName {
        container,
        entry,
        reason,
    })?;
    if let Err(kind) = require_regular(entry) {
        return Err(Rejection::NotRegular {
            container,
            entry: name,
            kind,
        });
    }
    Ok(name)
}

/// `Ok` for a regular file; otherwise the member's type, for the error message.
pub(crate) fn require_regular<R: Read>(entry: &tar::Entry<'_, R>) -> Result<(), String> {
    let kind = entry.header().entry_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(describe(kind).to_string())
    }
}

/// After the `tar` crate reported the end of the entries, checks what follows: at least the rest
/// of the two-block end marker, then only zeros, at most `max_padding` of them. Reads `rest` to
/// its end (or to the cap).
pub(crate) fn check_end_of_archive<R: Read>(
    rest: R,
    max_padding: u64,
) -> io::Result<Result<(), TarEnd>> {
    use crate::stream::ZeroRun;
    // The tar crate stops after the first zero block (or at EOF, having seen none); the second
    // zero block must still be there.
    Ok(match crate::stream::drain_zeros(rest, max_padding)? {
        ZeroRun::End(zeros) if zeros >= 512 => Ok(()),
        ZeroRun::End(_) => Err(TarEnd::MissingMarker),
        ZeroRun::NonZero(offset) => Err(TarEnd::TrailingData { offset }),
        ZeroRun::TooLong(limit) => Err(TarEnd::TooMuchPadding { limit }),
    })
}

/// A tar extension record (PAX `x`/`g`, GNU long name or link) over the size limit.
#[derive(Debug)]
pub struct ExtensionTooLarge {
    /// Declared size.
    pub size: u64,
    /// Limit.
    pub limit: u64,
}

impl fmt::Display for ExtensionTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tar extension header of {} bytes is over the limit of {} bytes",
            self.size, self.limit
        )
    }
}

impl std::error::Error for ExtensionTooLarge {}

/// Follows the block structure of a tar stream as it is read and refuses oversized extension
/// records before the `tar` crate buffers them.
///
/// The `tar` crate reads a PAX or GNU long-name record whole into memory before it returns the
/// entry it describes; a record declaring gigabytes would make memory depend on the input. This
/// adapter sits under the tar reader, parses each 512-byte header with the crate's own
/// [`tar::Header`] (and a PAX `size` with [`tar::PaxExtensions`], first match, as the crate
/// does), so it knows where every header lies, and fails the read at an oversized extension.
/// After the end-of-archive block it steps aside.
pub(crate) struct ExtensionGuard<R> {
    inner: R,
    phase: Phase,
    pending_size: Option<u64>,
    /// A malformed PAX header, reported at the header of the member it describes.
    pending_defect: Option<(PaxDefect, Option<Vec<u8>>)>,
    limit: u64,
}

enum Phase {
    Header(Box<[u8; 512]>, usize),
    Data {
        remaining: u64,
        record: Option<(Vec<u8>, usize)>,
    },
    Done,
}

impl<R: Read> ExtensionGuard<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            phase: Phase::Header(Box::new([0; 512]), 0),
            pending_size: None,
            pending_defect: None,
            limit,
        }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match &mut self.phase {
                Phase::Done => return Ok(()),
                Phase::Header(block, filled) => {
                    let take = (512 - *filled).min(bytes.len());
                    let (head, rest) = bytes.split_at(take);
                    if let Some(dst) = block.get_mut(*filled..*filled + take) {
                        dst.copy_from_slice(head);
                    }
                    *filled += take;
                    bytes = rest;
                    if *filled == 512 {
                        let block = *block.clone();
                        self.phase = self.after_header(&block)?;
                    }
                }
                Phase::Data { remaining, record } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    let (head, rest) = bytes.split_at(take);
                    if let Some((buf, len)) = record {
                        let want = (*len).saturating_sub(buf.len()).min(head.len());
                        buf.extend_from_slice(head.get(..want).unwrap_or_default());
                    }
                    *remaining -= take as u64;
                    bytes = rest;
                    if *remaining == 0 {
                        if let Some((buf, _)) = record.take() {
                            self.pax_complete(&buf);
                        }
                        self.phase = Phase::Header(Box::new([0; 512]), 0);
                    }
                }
            }
        }
        Ok(())
    }

    /// A PAX header's records have all arrived: check them now, report at the next member.
    fn pax_complete(&mut self, records: &[u8]) {
        let mut facts = PaxFacts::default();
        match check_pax_into(records, &mut facts) {
            Ok(()) => self.pending_size = facts.size,
            // A path record that parsed before the defect names the member best.
            Err(defect) => self.pending_defect = Some((defect, facts.path)),
        }
    }

    fn after_header(&mut self, block: &[u8; 512]) -> io::Result<Phase> {
        let header = tar::Header::from_byte_slice(block);
        let is_end = block.iter().all(|b| *b == 0);
        let kind = header.entry_type();
        let extension = kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink();
        if (is_end || !extension)
            && let Some((defect, path)) = self.pending_defect.take()
        {
            let member = match (is_end, path) {
                (true, _) => "(none: the archive ends after it)".to_owned(),
                (false, Some(path)) => crate::error::escape::quoted(&path).to_string(),
                (false, None) => crate::error::escape::quoted(&header.path_bytes()).to_string(),
            };
            return Err(io::Error::other(BadPax { member, defect }));
        }
        if is_end {
            return Ok(Phase::Done);
        }
        let Ok(size) = header.entry_size() else {
            // The tar reader fails on this header itself.
            return Ok(Phase::Done);
        };
        if kind.is_gnu_sparse() {
            // Sparse members are refused by the caller; their extra headers are not followed.
            return Ok(Phase::Done);
        }
        let (length, record) = if extension {
            if size > self.limit {
                return Err(io::Error::other(ExtensionTooLarge {
                    size,
                    limit: self.limit,
                }));
            }
            let capture = kind
                .is_pax_local_extensions()
                .then(|| (Vec::new(), usize::try_from(size).unwrap_or(0)));
            (size, capture)
        } else {
            (self.pending_size.take().unwrap_or(size), None)
        };
        let Some(padded) = length.checked_add(511).map(|l| l & !511) else {
            return Ok(Phase::Done);
        };
        if padded == 0 {
            if let Some((buf, _)) = &record {
                self.pax_complete(buf);
            }
            return Ok(Phase::Header(Box::new([0; 512]), 0));
        }
        Ok(Phase::Data {
            remaining: padded,
            record,
        })
    }
}

impl<R: Read> Read for ExtensionGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

struct EntryTypeName(tar::EntryType);

impl fmt::Display for EntryTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let name = if t.is_dir() {
            "directory"
        } else if t.is_symlink() {
            "symbolic link"
        } else if t.is_hard_link() {
            "hard link"
        } else if t.is_character_special() {
            "character device"
        } else if t.is_block_special() {
            "block device"
        } else if t.is_fifo() {
            "FIFO"
        } else if t.is_gnu_sparse() {
            "GNU sparse file"
        } else if t.is_pax_global_extensions() {
            "PAX global header"
        } else {
            return write!(f, "tar type '{}'", char::from(t.as_byte()).escape_default());
        };
        f.write_str(name)
    }
}

fn describe(kind: tar::EntryType) -> EntryTypeName {
    EntryTypeName(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::pax::check_pax;

    fn record(body: &str) -> Vec<u8> {
        // The length counts itself: find the fixed point.
        let mut len = body.len() + 3;
        loop {
            let r = format!("{len} {body}\n");
            if r.len() == len {
                return r.into_bytes();
            }
            len = r.len();
        }
    }

    fn problem(records: &[u8]) -> (usize, Option<String>, PaxProblem) {
        let d = check_pax(records).unwrap_err();
        (d.record, d.key, d.problem)
    }

    #[test]
    fn well_formed_records_give_path_and_size() {
        let mut r = record("path=data/0000/big.img");
        r.extend(record("size=8589934592"));
        r.extend(record("mtime=1700000000.123456789"));
        r.extend(record("uname="));
        r.extend(record("SCHILY.xattr.user.x=anything"));
        let facts = check_pax(&r).unwrap();
        assert_eq!(facts.path.as_deref(), Some(&b"data/0000/big.img"[..]));
        assert_eq!(facts.size, Some(8_589_934_592));
        assert_eq!(check_pax(b"").unwrap(), PaxFacts::default());
    }

    #[test]
    fn numeric_records_must_be_non_negative_decimal_within_i64() {
        for (body, want) in [
            ("size=abc", PaxProblem::NotANumber("abc".into())),
            ("size=-1", PaxProblem::NotANumber("-1".into())),
            ("size=", PaxProblem::NotANumber(String::new())),
            ("size= 12", PaxProblem::NotANumber(" 12".into())),
            ("size=1.5", PaxProblem::NotANumber("1.5".into())),
            ("uid=0x10", PaxProblem::NotANumber("0x10".into())),
            ("gid=+3", PaxProblem::NotANumber("+3".into())),
            ("mtime=-5", PaxProblem::NotANumber("-5".into())),
            ("mtime=1.", PaxProblem::NotANumber("1.".into())),
            ("atime=x", PaxProblem::NotANumber("x".into())),
            (
                "size=9223372036854775808",
                PaxProblem::Overflow("9223372036854775808".into()),
            ),
            (
                "ctime=99999999999999999999",
                PaxProblem::Overflow("99999999999999999999".into()),
            ),
        ] {
            let key = body.split('=').next().unwrap().to_owned();
            assert_eq!(problem(&record(body)), (1, Some(key), want), "{body}");
        }
        assert!(check_pax(&record("size=9223372036854775807")).is_ok());
    }

    #[test]
    fn structure_of_each_record_is_checked() {
        assert_eq!(problem(b"x size=1\n"), (1, None, PaxProblem::NoLength));
        assert_eq!(problem(b"11size=123\n"), (1, None, PaxProblem::NoLength));
        // Length one too long, one too short, beyond the header, not ending in a newline.
        assert!(matches!(
            problem(b"13 size=123\n").2,
            PaxProblem::LengthMismatch { declared: 13, .. }
        ));
        assert!(matches!(
            problem(b"11 size=123\n").2,
            PaxProblem::LengthMismatch { declared: 11, .. }
        ));
        assert!(matches!(
            problem(b"99999 size=1\n").2,
            PaxProblem::LengthMismatch {
                declared: 99999,
                ..
            }
        ));
        assert!(matches!(
            problem(b"12 size=123x").2,
            PaxProblem::LengthMismatch { .. }
        ));
        assert_eq!(
            problem(&record("sizeonly")),
            (1, None, PaxProblem::NoEquals)
        );
        assert_eq!(problem(&record("=1")), (1, None, PaxProblem::EmptyKey));
        // Trailing bytes after the last record are a record that does not parse.
        let mut r = record("size=1");
        r.extend_from_slice(&[0; 10]);
        assert_eq!(problem(&r), (2, None, PaxProblem::NoLength));
    }

    #[test]
    fn nul_duplicates_and_sparse_are_refused() {
        assert_eq!(
            problem(&record("path=a\0b")),
            (1, Some("path".into()), PaxProblem::Nul)
        );
        assert_eq!(
            problem(&record("linkpath=\0")),
            (1, Some("linkpath".into()), PaxProblem::Nul)
        );
        assert_eq!(
            problem(&record("a\0b=1")),
            (1, Some("a\0b".into()), PaxProblem::BadKey)
        );
        let mut twice = record("path=a");
        twice.extend(record("path=b"));
        assert_eq!(
            problem(&twice),
            (2, Some("path".into()), PaxProblem::Duplicate)
        );
        assert_eq!(
            problem(&record("GNU.sparse.major=1")),
            (1, Some("GNU.sparse.major".into()), PaxProblem::Sparse)
        );
    }

    /// A tar with one PAX `x` header holding `records`, then a member `name`, then the end.
    fn pax_tar(records: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut x = tar::Header::new_ustar();
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_path("PaxHeaders/x").unwrap();
        x.set_size(records.len() as u64);
        x.set_cksum();
        out.extend_from_slice(x.as_bytes());
        out.extend_from_slice(records);
        out.resize(out.len().div_ceil(512) * 512, 0);
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
        out
    }

    fn first_member(bytes: &[u8]) -> io::Result<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(ExtensionGuard::new(bytes, 65536));
        let mut entries = archive.entries()?;
        let mut entry = entries.next().unwrap()?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        Ok((name, data))
    }

    #[test]
    fn the_guard_fails_the_read_at_the_member_a_bad_header_describes() {
        // The tar crate alone would skip the bad record and use the ustar size.
        let bytes = pax_tar(&record("size=abc"), "version", b"hello");
        let plain = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .size();
        assert_eq!(
            plain, 5,
            "the crate repairs the header (why the guard exists)"
        );

        let err = first_member(&bytes).unwrap_err();
        let pax = err.get_ref().unwrap().downcast_ref::<BadPax>().unwrap();
        assert_eq!(
            pax.to_string(),
            "PAX extended header of member 'version': record 1 ('size'): value 'abc' is not \
             a non-negative decimal number"
        );

        let mut named = record("path=evil\u{1b}[2J");
        named.extend(record("size=-1"));
        let err = first_member(&pax_tar(&named, "x", b"")).unwrap_err();
        let text = err.get_ref().unwrap().to_string();
        assert!(
            text.starts_with(r"PAX extended header of member 'evil\u{1b}[2J': record 2 ('size')"),
            "{text}"
        );
    }

    #[test]
    fn the_guard_passes_well_formed_pax_headers() {
        let mut records = record("path=long/name.bin");
        records.extend(record("size=3"));
        let (name, data) = first_member(&pax_tar(&records, "short", b"abc")).unwrap();
        assert_eq!(
            (name.as_str(), data.as_slice()),
            ("long/name.bin", &b"abc"[..])
        );
    }
}
