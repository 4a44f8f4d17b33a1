//! `https://` URLs as the client needs them: host, port and the request target. Nothing but
//! `https` is accepted, so a plain `http://` URL or a redirect to one never opens a connection.

use thiserror::Error;

/// A parsed `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    /// The host name or IP address, without brackets.
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    target: String,
}

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// `http://`: no TLS, so no server authentication.
    #[error("refusing plain http:// ({0}); use https://")]
    PlainHttp(String),
    /// Not a URL this client can follow.
    #[error("'{url}' is not a usable https:// URL: {why}")]
    Invalid {
        /// The text.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
}

impl HttpsUrl {
    /// Parses an absolute `https://` URL.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let invalid = |why| UrlError::Invalid {
            url: text.to_owned(),
            why,
        };
        if text
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        {
            return Err(UrlError::PlainHttp(text.to_owned()));
        }
        let rest = match text.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("https://") => {
                text.get(8..).unwrap_or_default()
            }
            _ => return Err(invalid("it does not start with https://")),
        };
        if text
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control())
        {
            return Err(invalid("it contains spaces or control characters"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_owned()
        };
        if authority.contains('@') {
            return Err(invalid(
                "user names and passwords in URLs are not supported",
            ));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| invalid("bad host or port"))?;
        if host.is_empty() {
            return Err(invalid("no host name"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// Resolves a `Location` header against this URL (absolute, scheme-relative or
    /// path-absolute; RFC 9110 §10.2.2).
    pub fn join(&self, location: &str) -> Result<Self, UrlError> {
        if location.starts_with("//") {
            return Self::parse(&format!("https:{location}"));
        }
        if location.starts_with('/') {
            return Self::parse(&format!("https://{}{location}", self.authority()));
        }
        if location.contains("://") {
            return Self::parse(location);
        }
        // Relative to the current path's directory.
        let path = self.target.split('?').next().unwrap_or("/");
        let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
        Self::parse(&format!("https://{}{dir}/{location}", self.authority()))
    }

    /// The host, as TLS and the `Host` header name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// `host[:port]`, with brackets around an IPv6 address; the port only when not 443.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}{}", self.authority(), self.target)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return None,
            None => (authority, None),
        }
    };
    let port = match port {
        None => 443,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    Some((host, port))
}

/// `value` percent-encoded (RFC 3986 §2.1): everything but unreserved characters, so any name
/// is one path segment or one query value.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_target() {
        let u = HttpsUrl::parse("https://example.com:8443/a/b.mender?x=1#frag").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.target()),
            ("example.com", 8443, "/a/b.mender?x=1")
        );
        let u = HttpsUrl::parse("https://[::1]/x").unwrap();
        assert_eq!(
            (u.host(), u.port(), u.authority()),
            ("::1", 443, "[::1]".to_owned())
        );
        assert_eq!(HttpsUrl::parse("https://h").unwrap().target(), "/");
        assert_eq!(HttpsUrl::parse("https://h?q").unwrap().target(), "/?q");
    }

    #[test]
    fn refuses_plain_http_and_odd_urls() {
        assert!(matches!(
            HttpsUrl::parse("HTTP://h/x"),
            Err(UrlError::PlainHttp(_))
        ));
        for bad in [
            "ftp://h/x",
            "https://",
            "https://u:p@h/",
            "https://h:0/",
            "https://h:x/",
            "https://h/a b",
        ] {
            assert!(
                matches!(HttpsUrl::parse(bad), Err(UrlError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn joins_redirect_locations() {
        let base = HttpsUrl::parse("https://h:444/dir/file?q").unwrap();
        assert_eq!(
            base.join("/other").unwrap().to_string(),
            "https://h:444/other"
        );
        assert_eq!(
            base.join("next").unwrap().to_string(),
            "https://h:444/dir/next"
        );
        assert_eq!(base.join("//cdn/x").unwrap().to_string(), "https://cdn/x");
        assert!(matches!(
            base.join("http://h/x"),
            Err(UrlError::PlainHttp(_))
        ));
    }
}
