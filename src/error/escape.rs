//! Printing strings taken from an artifact.
//!
//! Every name, path and value that an error or a report quotes from an artifact is untrusted: it
//! may hold control bytes (a terminal escape sequence), bidirectional overrides or bytes that
//! are not UTF-8. [`quoted`] prints it between single quotes with everything but printable
//! ASCII escaped, so what an operator reads is exactly what the artifact holds and nothing in
//! it can act on the terminal or the log. It is not Rust's `{:?}`, whose output is a debugging
//! aid and not a stable format.

use std::fmt;

/// Bytes or a string to print escaped, with or without the quotes (see the module docs).
#[derive(Clone, Copy)]
pub struct Quoted<'a> {
    bytes: &'a [u8],
    quotes: bool,
}

/// `value` between single quotes, with `\'`, `\\`, `\n`, `\r`, `\t`, `\u{…}` for any other
/// character outside printable ASCII, and `\xNN` for bytes that are not UTF-8.
pub fn quoted<T: AsRef<[u8]> + ?Sized>(value: &T) -> Quoted<'_> {
    Quoted {
        bytes: value.as_ref(),
        quotes: true,
    }
}

/// `value` escaped as [`quoted`] does, without the quotes: for a message that quotes a longer
/// string around it (`'data/0000/<name>'`).
pub fn escaped<T: AsRef<[u8]> + ?Sized>(value: &T) -> Quoted<'_> {
    Quoted {
        bytes: value.as_ref(),
        quotes: false,
    }
}

/// A list of strings, each [`quoted`], separated by `, `.
pub fn quoted_list<T: AsRef<[u8]>>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| quoted(v).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = if self.quotes { "'" } else { "" };
        f.write_str(quote)?;
        for chunk in self.bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\'' => f.write_str("\\'")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    ' '..='~' => write!(f, "{c}")?,
                    other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str(quote)
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_is_kept_and_the_rest_escaped() {
        assert_eq!(quoted("rootfs.ext4").to_string(), "'rootfs.ext4'");
        assert_eq!(quoted("it's").to_string(), r"'it\'s'");
        assert_eq!(quoted("a\\b").to_string(), r"'a\\b'");
        assert_eq!(quoted("a\nb\tc\r").to_string(), r"'a\nb\tc\r'");
        assert_eq!(quoted("\u{1b}[2J").to_string(), r"'\u{1b}[2J'");
        assert_eq!(quoted("a\0b").to_string(), r"'a\u{0}b'");
        assert_eq!(quoted("é\u{202e}").to_string(), r"'\u{e9}\u{202e}'");
        assert_eq!(quoted(&b"ok\xff\xfe"[..]).to_string(), r"'ok\xff\xfe'");
        assert_eq!(quoted("").to_string(), "''");
        assert_eq!(escaped("a'\n").to_string(), r"a\'\n");
    }

    #[test]
    fn output_never_holds_a_control_byte() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let printed = quoted(&every_byte).to_string();
        assert!(
            printed.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{printed}"
        );
    }

    #[test]
    fn lists_are_joined() {
        assert_eq!(quoted_list(&["a", "b\n"]), r"'a', 'b\n'");
    }
}
