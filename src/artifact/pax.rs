//! PAX extended headers (spec §1.3; POSIX.1-2001 pax format): each record checked as Go's
//! archive/tar parses them, so a header the `tar` crate would silently skip or repair is refused,
//! named by the member it describes.

use thiserror::Error;

/// A PAX extended header that is malformed, named by the member it describes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("PAX extended header of member {member}: {defect}")]
pub struct BadPax {
    /// The member the header describes, quoted and escaped (its PAX `path` where that record
    /// parsed, else its ustar name; `(none)` when the archive ends after the header).
    pub member: String,
    /// The record and what is wrong with it.
    pub defect: PaxDefect,
}

/// One malformed record of a PAX extended header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {record}{}: {problem}", .key.as_deref().map(|k| format!(" ({})", crate::error::escape::quoted(k))).unwrap_or_default())]
pub struct PaxDefect {
    /// 1-based position of the record in the header.
    pub record: usize,
    /// The record's key, where it got that far.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: PaxProblem,
}

/// What is wrong with a PAX record (POSIX.1-2001 pax format: `"<length> <key>=<value>\n"`, the
/// length counting the whole record in bytes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaxProblem {
    /// The record does not start with a decimal length and a space.
    #[error("does not start with a decimal length followed by a space")]
    NoLength,
    /// The length prefix does not match the record.
    #[error(
        "its length prefix says {declared} bytes, but {available} bytes are left and the \
         record must end in a newline at that length"
    )]
    LengthMismatch {
        /// The length the record declares.
        declared: usize,
        /// Bytes left in the header from the record's start.
        available: usize,
    },
    /// No `=` between key and value.
    #[error("has no '=' between key and value")]
    NoEquals,
    /// The key is empty.
    #[error("has an empty key")]
    EmptyKey,
    /// The key is not UTF-8 or holds NUL.
    #[error("has a key that is not UTF-8 or holds NUL")]
    BadKey,
    /// The same key twice in one header (readers disagree on which one wins).
    #[error("appears twice in one header")]
    Duplicate,
    /// A numeric record that is not a non-negative decimal number.
    #[error("value {} is not a non-negative decimal number", crate::error::escape::quoted(.0))]
    NotANumber(String),
    /// A numeric record too large for a 63-bit signed number (Go's archive/tar limit).
    #[error("value {0} does not fit in a signed 64-bit number")]
    Overflow(String),
    /// `path`, `linkpath`, `uname` or `gname` holding NUL.
    #[error("value holds a NUL byte")]
    Nul,
    /// A `GNU.sparse.*` record: sparse members are refused.
    #[error("describes a sparse file; artifacts carry only regular files")]
    Sparse,
}

/// What the `tar` crate will take from a well-formed PAX header.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PaxFacts {
    pub(super) path: Option<Vec<u8>>,
    pub(super) size: Option<u64>,
}

/// Checks every record of one PAX extended header, as Go's archive/tar parses them
/// (`parsePAXRecord`, `validPAXRecord`, `mergePAX`), and returns its `path` and `size`.
#[cfg(test)]
pub(super) fn check_pax(records: &[u8]) -> Result<PaxFacts, PaxDefect> {
    let mut facts = PaxFacts::default();
    check_pax_into(records, &mut facts).map(|()| facts)
}

/// `check_pax`, filling `facts` as it goes: on a defect, `facts` holds what the well-formed
/// records before it said (a `path` among them names the member in the error).
pub(super) fn check_pax_into(records: &[u8], facts: &mut PaxFacts) -> Result<(), PaxDefect> {
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut rest = records;
    let mut record = 0;
    while !rest.is_empty() {
        record += 1;
        let defect = |key: Option<&[u8]>, problem| PaxDefect {
            record,
            key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            problem,
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(&b' ') {
            return Err(defect(None, PaxProblem::NoLength));
        }
        let declared = std::str::from_utf8(rest.get(..digits).unwrap_or_default())
            .ok()
            .and_then(|d| d.parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        let mismatch = PaxProblem::LengthMismatch {
            declared,
            available: rest.len(),
        };
        // The shortest record is `<len> k=\n`: the digits, a space, a key, `=` and a newline.
        if declared < digits + 4 || declared > rest.len() {
            return Err(defect(None, mismatch));
        }
        let (this, next) = rest.split_at(declared);
        let Some((b'\n', body)) = this.split_last() else {
            return Err(defect(None, mismatch));
        };
        let body = body.get(digits + 1..).unwrap_or_default();
        let Some(eq) = body.iter().position(|b| *b == b'=') else {
            return Err(defect(None, PaxProblem::NoEquals));
        };
        let (key, value) = body.split_at(eq);
        let value = value.get(1..).unwrap_or_default();
        if key.is_empty() {
            return Err(defect(None, PaxProblem::EmptyKey));
        }
        let Some(name) = std::str::from_utf8(key).ok().filter(|k| !k.contains('\0')) else {
            return Err(defect(Some(key), PaxProblem::BadKey));
        };
        if keys.contains(&key) {
            return Err(defect(Some(key), PaxProblem::Duplicate));
        }
        keys.push(key);
        let text = || String::from_utf8_lossy(value).into_owned();
        match name {
            "size" | "uid" | "gid" => {
                let n = pax_number(value, false).map_err(|p| defect(Some(key), p(text())))?;
                if name == "size" {
                    facts.size = Some(n);
                }
            }
            "mtime" | "atime" | "ctime" => {
                pax_number(value, true).map_err(|p| defect(Some(key), p(text())))?;
            }
            "path" | "linkpath" | "uname" | "gname" if value.contains(&0) => {
                return Err(defect(Some(key), PaxProblem::Nul));
            }
            "path" => facts.path = Some(value.to_vec()),
            _ if name.starts_with("GNU.sparse.") => {
                return Err(defect(Some(key), PaxProblem::Sparse));
            }
            _ => {}
        }
        rest = next;
    }
    Ok(())
}

/// A PAX numeric value: decimal digits (and, for times, an optional fraction after a `.`),
/// within `i64::MAX` as Go requires. No sign, no spaces, never empty.
pub(super) fn pax_number(value: &[u8], fraction: bool) -> Result<u64, fn(String) -> PaxProblem> {
    let whole = match value.iter().position(|b| *b == b'.') {
        Some(dot) if fraction => {
            let (whole, frac) = value.split_at(dot);
            let frac = frac.get(1..).unwrap_or_default();
            if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
                return Err(PaxProblem::NotANumber);
            }
            whole
        }
        _ => value,
    };
    if whole.is_empty() || !whole.iter().all(u8::is_ascii_digit) {
        return Err(PaxProblem::NotANumber);
    }
    std::str::from_utf8(whole)
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or(PaxProblem::Overflow)
}
