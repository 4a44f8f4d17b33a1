//! Ordering release versions for the downgrade floor (issue #16 item 2): the three schemes an
//! operator may name in `[policy] version_scheme`. Each parses strictly, so that a version the
//! scheme cannot order is refused rather than guessed at.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// How the values of `[policy] version_provide` are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionScheme {
    /// Semantic Versioning 2.0.0 precedence (`1.4.0-rc.1 < 1.4.0`; build metadata is ignored).
    #[default]
    Semver,
    /// Debian's version ordering, as `dpkg --compare-versions` (`[epoch:]upstream[-revision]`).
    Debian,
    /// A whole decimal number.
    Integer,
}

impl VersionScheme {
    /// Its name in the settings file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Semver => "semver",
            Self::Debian => "debian",
            Self::Integer => "integer",
        }
    }

    /// Orders `a` against `b`; `Err` says which of them the scheme cannot read, and why.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, String> {
        match self {
            Self::Semver => {
                let parse = |v: &str| {
                    semver::Version::parse(v).map_err(|e| {
                        format!("'{v}' is not a semantic version (MAJOR.MINOR.PATCH): {e}")
                    })
                };
                Ok(parse(a)?.cmp_precedence(&parse(b)?))
            }
            Self::Debian => Ok(DebianVersion::parse(a)?.cmp(&DebianVersion::parse(b)?)),
            Self::Integer => {
                let parse = |v: &str| parse_integer(v).map_err(|e| format!("'{v}' {e}"));
                Ok(parse(a)?.cmp(&parse(b)?))
            }
        }
    }

    /// Whether the scheme can read `v` at all.
    pub fn check(self, v: &str) -> Result<(), String> {
        self.compare(v, v).map(|_| ())
    }
}

/// A whole decimal number, digits only (no sign, no spaces).
pub fn parse_integer(v: &str) -> Result<u64, &'static str> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a whole decimal number");
    }
    v.parse().map_err(|_| "is too large (above 2^64-1)")
}

/// A Debian version split into its three parts (Debian Policy §5.6.12).
#[derive(Debug, PartialEq, Eq)]
struct DebianVersion<'a> {
    epoch: u64,
    upstream: &'a str,
    revision: &'a str,
}

impl<'a> DebianVersion<'a> {
    fn parse(v: &'a str) -> Result<Self, String> {
        let bad = |why: &str| format!("'{v}' is not a Debian version: {why}");
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) => (
                parse_integer(e).map_err(|_| bad("the epoch before ':' is not a number"))?,
                rest,
            ),
            None => (0, v),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("the upstream version must start with a digit"));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".+~-:".contains(c);
        if !upstream.chars().all(allowed)
            || !revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~".contains(c))
        {
            return Err(bad("only letters, digits and . + ~ - : may appear"));
        }
        Ok(Self {
            epoch,
            upstream,
            revision,
        })
    }
}

impl Ord for DebianVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| debian_part(self.upstream, other.upstream))
            .then_with(|| debian_part(self.revision, other.revision))
    }
}

impl PartialOrd for DebianVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// dpkg's comparison of one part: alternating runs of non-digits (compared character by
/// character, `~` before everything, even the end, and letters before other characters) and
/// of digits (compared as numbers).
fn debian_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (a_text, a_rest) = split_run(a, |c| !c.is_ascii_digit());
        let (b_text, b_rest) = split_run(b, |c| !c.is_ascii_digit());
        let text = (0..a_text.len().max(b_text.len()))
            .map(|i| weight(a_text.get(i)).cmp(&weight(b_text.get(i))))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal);
        if text.is_ne() {
            return text;
        }
        let (a_num, a_rest) = split_run(a_rest, |c| c.is_ascii_digit());
        let (b_num, b_rest) = split_run(b_rest, |c| c.is_ascii_digit());
        let number = compare_digits(a_num, b_num);
        if number.is_ne() {
            return number;
        }
        (a, b) = (a_rest, b_rest);
    }
    Ordering::Equal
}

fn split_run(s: &[u8], keep: impl Fn(&u8) -> bool) -> (&[u8], &[u8]) {
    let at = s.iter().position(|c| !keep(c)).unwrap_or(s.len());
    s.split_at(at)
}

/// dpkg's `order()`: `~` sorts first, then the end of the part, then letters, then the rest.
fn weight(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
        Some(c) => i32::from(*c) + 256,
    }
}

/// Two runs of digits as numbers of any length (leading zeros do not count).
fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| {
        let at = s.iter().position(|c| *c != b'0').unwrap_or(s.len());
        s.get(at..).unwrap_or_default().to_vec()
    };
    let (a, b) = (trim(a), trim(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn semver_uses_precedence() {
        let s = VersionScheme::Semver;
        assert_eq!(s.compare("1.4.0", "1.10.0"), Ok(Less));
        assert_eq!(s.compare("1.4.0-rc.1", "1.4.0"), Ok(Less));
        assert_eq!(s.compare("1.4.0+build.7", "1.4.0+build.9"), Ok(Equal));
        assert_eq!(s.compare("2.0.0", "1.99.99"), Ok(Greater));
        let e = s.compare("1.4", "1.4.0").unwrap_err();
        assert!(e.contains("'1.4' is not a semantic version"), "{e}");
    }

    #[test]
    fn integers_are_digits_only() {
        let s = VersionScheme::Integer;
        assert_eq!(s.compare("9", "10"), Ok(Less));
        assert_eq!(s.compare("007", "7"), Ok(Equal));
        for bad in ["", "-1", "+2", " 3", "1.0", "99999999999999999999"] {
            assert!(s.check(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debian_ordering_follows_dpkg() {
        let s = VersionScheme::Debian;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0", "1.0+deb12u1", Less),
            ("1.0-1", "1.0-2", Less),
            ("1:0.9", "2.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.2.10", "1.2.9", Greater),
            ("1.0-1~bpo12+1", "1.0-1", Less),
            ("0001.0", "1.0", Equal),
        ] {
            assert_eq!(s.compare(a, b), Ok(want), "{a} vs {b}");
            assert_eq!(s.compare(b, a), Ok(want.reverse()), "{b} vs {a}");
        }
        assert!(s.check("release-2").is_err());
        assert!(s.check("x:1.0").is_err());
        assert!(s.check("1.0 beta").is_err());
    }
}
