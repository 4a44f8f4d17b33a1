//! The `manifest` entry: one `<sha256>  <path>` line per covered file (spec §2).
//!
//! Parsing is strict, as spec §12.1 recommends: 64 lowercase hex digits, exactly two spaces, a
//! path, `\n` — no blank lines, no CR, no duplicates, a final newline. The only paths an artifact
//! can carry are `version`, one `header.tar[.gz|.xz|.zst]` and `data/0000/<file>`; anything else
//! is refused here rather than discovered missing later.
//!
//! This module only parses. Whether the manifest is trusted is decided in [`crate::signature`],
//! which alone builds a [`crate::signature::VerifiedManifest`] around a [`Manifest`].

use std::collections::BTreeMap;

use thiserror::Error;

use crate::artifact::file_names::{self, NameError, PayloadName};
use crate::stream::Sha256Digest;

/// Prefix of the manifest paths of payload 0's files.
pub const PAYLOAD_PREFIX: &str = "data/0000/";

/// A parsed manifest. Built only by [`Manifest::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    version: Sha256Digest,
    header_name: String,
    header: Sha256Digest,
    /// Payload file name (without `data/0000/`) → digest, in manifest order.
    payload: Vec<(PayloadName, Sha256Digest)>,
}

/// Why a manifest was refused. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// The manifest is not UTF-8.
    #[error("manifest is not valid UTF-8")]
    NotUtf8,
    /// The manifest is empty.
    #[error("manifest is empty")]
    Empty,
    /// The last line has no `\n`.
    #[error("manifest line {line}: missing final newline")]
    MissingFinalNewline {
        /// Line number.
        line: usize,
    },
    /// An empty line.
    #[error("manifest line {line}: blank line")]
    BlankLine {
        /// Line number.
        line: usize,
    },
    /// The checksum field is not 64 lowercase hex digits.
    #[error("manifest line {line}: checksum is not 64 lowercase hex digits")]
    BadChecksum {
        /// Line number.
        line: usize,
    },
    /// The checksum and path are not separated by exactly two spaces.
    #[error("manifest line {line}: checksum and path must be separated by exactly two spaces")]
    BadSeparator {
        /// Line number.
        line: usize,
    },
    /// A path that no artifact entry can have.
    #[error("manifest line {line}: path '{}' is not version, header.tar[.gz|.xz|.zst] or data/0000/<file>"
    , crate::error::escape::escaped(.path))]
    UnknownPath {
        /// Line number.
        line: usize,
        /// The path.
        path: String,
    },
    /// A payload file name that breaks the naming rules.
    #[error("manifest line {line}: payload path '{}': {reason}", crate::error::escape::escaped(.path))]
    BadName {
        /// Line number.
        line: usize,
        /// The path.
        path: String,
        /// The rule broken.
        reason: NameError,
    },
    /// A path listed twice.
    #[error("manifest line {line}: duplicate path '{}'", crate::error::escape::escaped(.path))]
    Duplicate {
        /// Line number.
        line: usize,
        /// The path.
        path: String,
    },
    /// More than one `header.tar*` line.
    #[error("manifest line {line}: a second header line '{}'", crate::error::escape::escaped(.path))]
    SecondHeader {
        /// Line number.
        line: usize,
        /// The path.
        path: String,
    },
    /// No `version` line.
    #[error("manifest has no line for 'version'")]
    MissingVersion,
    /// No `header.tar*` line.
    #[error("manifest has no line for the header (header.tar[.gz|.xz|.zst])")]
    MissingHeader,
    /// More lines than the limit.
    #[error("manifest lists more than {max} files")]
    TooManyLines {
        /// Limit.
        max: usize,
    },
}

impl Manifest {
    /// Parses manifest bytes strictly.
    ///
    /// # Security
    /// `raw` is untrusted until its signature is checked; this function only reads it.
    pub fn parse(raw: &[u8], max_lines: usize, max_name_len: usize) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(raw).map_err(|_| ManifestError::NotUtf8)?;
        if text.is_empty() {
            return Err(ManifestError::Empty);
        }
        let mut lines: Vec<&str> = text.split('\n').collect();
        // A well-formed manifest ends in '\n', so the split leaves one empty tail.
        match lines.pop() {
            Some("") => {}
            _ => {
                return Err(ManifestError::MissingFinalNewline {
                    line: lines.len() + 1,
                });
            }
        }
        if lines.len() > max_lines.saturating_add(2) {
            return Err(ManifestError::TooManyLines { max: max_lines });
        }

        let mut version = None;
        let mut header: Option<(String, Sha256Digest)> = None;
        let mut payload: Vec<(PayloadName, Sha256Digest)> = Vec::new();
        let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
        for (index, text_line) in lines.iter().enumerate() {
            let line = index + 1;
            let (digest, path) = parse_line(text_line, line)?;
            if seen.insert(path, ()).is_some() {
                return Err(ManifestError::Duplicate {
                    line,
                    path: path.to_owned(),
                });
            }
            if path == "version" {
                version = Some(digest);
            } else if is_header_name(path) {
                if header.is_some() {
                    return Err(ManifestError::SecondHeader {
                        line,
                        path: path.to_owned(),
                    });
                }
                header = Some((path.to_owned(), digest));
            } else if let Some(name) = path.strip_prefix(PAYLOAD_PREFIX) {
                let name =
                    file_names::check_payload_name(name, max_name_len).map_err(|reason| {
                        ManifestError::BadName {
                            line,
                            path: path.to_owned(),
                            reason,
                        }
                    })?;
                payload.push((name, digest));
            } else {
                return Err(ManifestError::UnknownPath {
                    line,
                    path: path.to_owned(),
                });
            }
        }
        let version = version.ok_or(ManifestError::MissingVersion)?;
        let (header_name, header) = header.ok_or(ManifestError::MissingHeader)?;
        Ok(Self {
            version,
            header_name,
            header,
            payload,
        })
    }

    /// Expected digest of the `version` entry.
    pub fn version_digest(&self) -> &Sha256Digest {
        &self.version
    }

    /// The header entry name the manifest covers, e.g. `header.tar.gz`.
    pub fn header_name(&self) -> &str {
        &self.header_name
    }

    /// Expected digest of the header entry.
    pub fn header_digest(&self) -> &Sha256Digest {
        &self.header
    }

    /// Payload files (name without `data/0000/`, digest), in manifest order.
    pub fn payload_files(&self) -> &[(PayloadName, Sha256Digest)] {
        &self.payload
    }

    /// Expected digest of payload file `name`.
    pub fn payload_digest(&self, name: &str) -> Option<&Sha256Digest> {
        self.payload.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }
}

/// True for the names the header entry may have (spec §1.1).
pub fn is_header_name(name: &str) -> bool {
    matches!(
        name,
        "header.tar" | "header.tar.gz" | "header.tar.xz" | "header.tar.zst"
    )
}

fn parse_line(text: &str, line: usize) -> Result<(Sha256Digest, &str), ManifestError> {
    if text.is_empty() {
        return Err(ManifestError::BlankLine { line });
    }
    let (hex_part, rest) = match (text.get(..64), text.get(64..)) {
        (Some(h), Some(r)) => (h, r),
        _ => return Err(ManifestError::BadChecksum { line }),
    };
    if !hex_part
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(ManifestError::BadChecksum { line });
    }
    let path = rest
        .strip_prefix("  ")
        .filter(|p| !p.is_empty() && !p.starts_with(' '))
        .ok_or(ManifestError::BadSeparator { line })?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut digest).map_err(|_| ManifestError::BadChecksum { line })?;
    Ok((digest, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "96bcd965947569404798bcbdb614f103db5a004eb6e364cfc162c146890ea35b";
    const H: &str = "3d3e1e2a8937083b4f8adc581f53bcddfc7aa9ec6963d5e67787ffc26b0105a3";

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text.as_bytes(), 100, 255)
    }

    #[test]
    fn mender_artifact_output_parses_in_order() {
        let text = format!(
            "{H}  data/0000/z2.bin\n{V}  data/0000/f1.txt\n{H}  header.tar.gz\n{V}  version\n"
        );
        let m = parse(&text).unwrap();
        assert_eq!(m.header_name(), "header.tar.gz");
        let names: Vec<_> = m.payload_files().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["z2.bin", "f1.txt"]);
        assert_eq!(hex::encode(m.version_digest()), V);
    }

    #[test]
    fn strict_syntax() {
        let ok_tail = format!("{H}  header.tar\n{V}  version\n");
        assert!(parse(&ok_tail).is_ok());
        assert_eq!(
            parse(&format!("{H}  header.tar\n{V}  version")),
            Err(ManifestError::MissingFinalNewline { line: 2 })
        );
        assert_eq!(
            parse(&format!("{H}  header.tar\n\n{V}  version\n")),
            Err(ManifestError::BlankLine { line: 2 })
        );
        assert_eq!(
            parse(&format!("{}  header.tar\n{V}  version\n", H.to_uppercase())),
            Err(ManifestError::BadChecksum { line: 1 })
        );
        assert_eq!(
            parse(&format!("{H} header.tar\n{V}  version\n")),
            Err(ManifestError::BadSeparator { line: 1 })
        );
        assert_eq!(
            parse(&format!("{H}   header.tar\n{V}  version\n")),
            Err(ManifestError::BadSeparator { line: 1 })
        );
        assert!(matches!(
            parse(&format!("{H}  header.tar\r\n{V}  version\n")),
            Err(ManifestError::UnknownPath { line: 1, .. })
        ));
    }

    #[test]
    fn required_and_duplicate_lines() {
        assert_eq!(
            parse(&format!("{H}  header.tar\n")),
            Err(ManifestError::MissingVersion)
        );
        assert_eq!(
            parse(&format!("{V}  version\n")),
            Err(ManifestError::MissingHeader)
        );
        assert!(matches!(
            parse(&format!("{V}  version\n{H}  header.tar\n{V}  version\n")),
            Err(ManifestError::Duplicate { line: 3, .. })
        ));
        assert!(matches!(
            parse(&format!(
                "{V}  version\n{H}  header.tar\n{H}  header.tar.gz\n"
            )),
            Err(ManifestError::SecondHeader { line: 3, .. })
        ));
    }

    #[test]
    fn paths_outside_the_artifact_layout_are_refused() {
        for path in ["data/0001/x", "manifest", "data/0000.tar.gz", "foo"] {
            let text = format!("{V}  version\n{H}  header.tar\n{H}  {path}\n");
            assert!(
                matches!(
                    parse(&text),
                    Err(ManifestError::UnknownPath { line: 3, .. })
                ),
                "{path}"
            );
        }
        let text = format!("{V}  version\n{H}  header.tar\n{H}  data/0000/../../etc/passwd\n");
        assert!(matches!(
            parse(&text),
            Err(ManifestError::BadName {
                reason: NameError::Traversal,
                ..
            })
        ));
    }
}
