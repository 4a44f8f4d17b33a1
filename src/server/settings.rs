//! Where the Mender server is and how the device talks to it, read as the Mender client reads
//! it: mender.conf's `ServerURL` (or the `Servers` list), `TenantToken`, `ServerCertificate`,
//! the three poll intervals and `HttpsClient` (a client certificate for mutual TLS); and, beyond
//! Mender, `[server] device_key` in artifact-gate.toml.
//!
//! Stricter than the Go client, which logs and carries on: `ServerURL` together with a
//! different `Servers` list, an `http://` server, a zero or negative interval and a
//! half-configured `HttpsClient` are configuration errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::ServerError;
use crate::config::mender_conf::{MenderConfig, MenderPaths};
use crate::fetch::tls::ClientIdentity;
use crate::fetch::url::HttpsUrl;
use crate::keys::uri::Pkcs11Uri;

/// Mender's defaults (Mender 3 documentation).
const UPDATE_POLL_DEFAULT: u64 = 1800;
const INVENTORY_POLL_DEFAULT: u64 = 28_800;
const RETRY_POLL_DEFAULT: u64 = 300;

/// `[server]` in artifact-gate.toml.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerTable {
    /// The device key: a PEM file, or a `pkcs11:` URI of a key pair in a token or a TPM.
    /// Default: `<datastore>/mender-agent.pem`, created on first start.
    pub device_key: Option<String>,
}

/// Where the device key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKeySource {
    /// A PEM file, created when missing.
    File(PathBuf),
    /// A key pair in a PKCS#11 token; it signs there.
    Token(String),
}

/// How the agent reaches its server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The server (the first of `Servers`).
    pub url: HttpsUrl,
    /// `TenantToken` (empty without one, as the Go client sends it).
    pub tenant_token: String,
    /// `UpdatePollIntervalSeconds`.
    pub update_poll: Duration,
    /// `InventoryPollIntervalSeconds`.
    pub inventory_poll: Duration,
    /// `RetryPollIntervalSeconds`: the longest wait between attempts after a failure.
    pub retry_poll: Duration,
    /// `ServerCertificate`.
    pub server_certificate: Option<PathBuf>,
    /// `HttpsClient.Certificate` and `.Key`.
    pub client_identity: Option<ClientIdentity>,
    /// The device key.
    pub device_key: DeviceKeySource,
}

impl ServerSettings {
    /// The device key's file or URI, as messages name it.
    pub fn device_key_name(&self) -> String {
        match &self.device_key {
            DeviceKeySource::File(path) => path.display().to_string(),
            DeviceKeySource::Token(uri) => uri.split('?').next().unwrap_or_default().to_owned(),
        }
    }

    /// The agent's settings, or `None` when mender.conf names no server.
    pub fn read(
        mender: &MenderConfig,
        paths: &MenderPaths,
        table: &ServerTable,
    ) -> Result<Option<Self>, ServerError> {
        let Some(url) = server_url(mender)? else {
            return Ok(None);
        };
        let interval = |key: &'static str, default: u64| -> Result<Duration, ServerError> {
            match mender.get(key) {
                None => Ok(Duration::from_secs(default)),
                Some((_, Value::Number(n))) if n.as_u64().is_some_and(|n| n > 0) => {
                    Ok(Duration::from_secs(n.as_u64().unwrap_or(default)))
                }
                Some((file, _)) => Err(invalid(file, key, "must be a whole number of seconds > 0")),
            }
        };
        Ok(Some(Self {
            url,
            tenant_token: string(mender, "TenantToken")?.unwrap_or_default(),
            update_poll: interval("UpdatePollIntervalSeconds", UPDATE_POLL_DEFAULT)?,
            inventory_poll: interval("InventoryPollIntervalSeconds", INVENTORY_POLL_DEFAULT)?,
            retry_poll: interval("RetryPollIntervalSeconds", RETRY_POLL_DEFAULT)?,
            server_certificate: string(mender, "ServerCertificate")?.map(PathBuf::from),
            client_identity: client_identity(mender)?,
            device_key: device_key(table, paths)?,
        }))
    }
}

fn invalid(file: &Path, key: &str, detail: impl Into<String>) -> ServerError {
    ServerError::Setting {
        file: file.to_owned(),
        key: key.to_owned(),
        detail: detail.into(),
    }
}

fn string(mender: &MenderConfig, key: &'static str) -> Result<Option<String>, ServerError> {
    match mender.get(key) {
        None => Ok(None),
        Some((_, Value::String(s))) if s.is_empty() => Ok(None),
        Some((_, Value::String(s))) => Ok(Some(s.clone())),
        Some((file, _)) => Err(invalid(file, key, "must be a string")),
    }
}

/// `ServerURL`, or the first `Servers[].ServerURL`.
fn server_url(mender: &MenderConfig) -> Result<Option<HttpsUrl>, ServerError> {
    let single = string(mender, "ServerURL")?;
    let list = match mender.get("Servers") {
        None => Vec::new(),
        Some((file, Value::Array(items))) => {
            let mut urls = Vec::new();
            for item in items {
                let url = item
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("ServerURL")))
                    .and_then(|(_, v)| v.as_str())
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        invalid(
                            file,
                            "Servers",
                            "each entry must be {\"ServerURL\": \"https://…\"}",
                        )
                    })?;
                urls.push((file.to_owned(), url.to_owned()));
            }
            urls
        }
        Some((file, _)) => return Err(invalid(file, "Servers", "must be a list")),
    };
    let chosen = match (single, list.first()) {
        (Some(one), Some((file, first)))
            if one.trim_end_matches('/') != first.trim_end_matches('/') =>
        {
            return Err(invalid(
                file,
                "Servers",
                format!("names {first}, but ServerURL names {one}; set only one of them"),
            ));
        }
        (_, Some((_, first))) => first.clone(),
        (Some(one), None) => one,
        (None, None) => return Ok(None),
    };
    if list.len() > 1 {
        tracing::warn!(
            "mender.conf: Servers lists {} servers; the agent uses the first, {chosen}",
            list.len()
        );
    }
    let file = mender
        .get("ServerURL")
        .or_else(|| mender.get("Servers"))
        .map_or_else(PathBuf::new, |(f, _)| f.to_owned());
    HttpsUrl::parse(chosen.trim_end_matches('/'))
        .map(Some)
        .map_err(|e| invalid(&file, "ServerURL", e.to_string()))
}

/// `HttpsClient: {"Certificate": …, "Key": …}`: both or neither.
fn client_identity(mender: &MenderConfig) -> Result<Option<ClientIdentity>, ServerError> {
    let Some((file, value)) = mender.get("HttpsClient") else {
        return Ok(None);
    };
    let Some(object) = value.as_object() else {
        return Err(invalid(file, "HttpsClient", "must be an object"));
    };
    let field = |name: &str| -> Result<Option<String>, ServerError> {
        match object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
            None => Ok(None),
            Some((_, Value::String(s))) if s.is_empty() => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(
                file,
                "HttpsClient",
                format!("{name} must be a string"),
            )),
        }
    };
    match (field("Certificate")?, field("Key")?) {
        (None, None) => Ok(None),
        (Some(certificate), Some(key)) if Pkcs11Uri::is_uri(&key) => {
            let _ = certificate;
            Err(invalid(
                file,
                "HttpsClient",
                "a pkcs11: client key (SSLEngine) is not supported; give a PEM key file",
            ))
        }
        (Some(certificate), Some(key)) => Ok(Some(ClientIdentity {
            certificate: PathBuf::from(certificate),
            key: PathBuf::from(key),
        })),
        (Some(_), None) => Err(invalid(
            file,
            "HttpsClient",
            "Certificate is set but Key is not",
        )),
        (None, Some(_)) => Err(invalid(
            file,
            "HttpsClient",
            "Key is set but Certificate is not",
        )),
    }
}

fn device_key(table: &ServerTable, paths: &MenderPaths) -> Result<DeviceKeySource, ServerError> {
    match table.device_key.as_deref() {
        None => Ok(DeviceKeySource::File(
            paths.datastore_dir.join(super::device_key::DEFAULT_FILE),
        )),
        Some(uri) if Pkcs11Uri::is_uri(uri) => {
            // Parsed now, so a typo is a start-up error and never a silent fallback.
            Pkcs11Uri::parse(uri).map_err(|e| ServerError::Setting {
                file: PathBuf::from("artifact-gate.toml"),
                key: "[server] device_key".to_owned(),
                detail: e.to_string(),
            })?;
            Ok(DeviceKeySource::Token(uri.to_owned()))
        }
        Some("") => Err(ServerError::Setting {
            file: PathBuf::from("artifact-gate.toml"),
            key: "[server] device_key".to_owned(),
            detail: "is empty".to_owned(),
        }),
        Some(path) => Ok(DeviceKeySource::File(PathBuf::from(path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(conf: &str, table: &ServerTable) -> Result<Option<ServerSettings>, ServerError> {
        let dir = tempfile::tempdir().unwrap();
        let paths = MenderPaths {
            conf_dir: dir.path().to_owned(),
            datastore_dir: dir.path().join("data"),
            data_dir: dir.path().join("share"),
        };
        std::fs::write(paths.main_config(), conf).unwrap();
        let mender = MenderConfig::load(&paths, None).unwrap();
        ServerSettings::read(&mender, &paths, table)
    }

    #[test]
    fn no_server_means_no_agent() {
        assert!(read("{}", &ServerTable::default()).unwrap().is_none());
    }

    #[test]
    fn server_url_and_intervals_as_mender_reads_them() {
        let s = read(
            r#"{"ServerURL":"https://hosted.mender.io/","TenantToken":"tt",
                "UpdatePollIntervalSeconds":5,"RetryPollIntervalSeconds":7}"#,
            &ServerTable::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.url.to_string(), "https://hosted.mender.io/");
        assert_eq!(s.tenant_token, "tt");
        assert_eq!(s.update_poll, Duration::from_secs(5));
        assert_eq!(
            s.inventory_poll,
            Duration::from_secs(INVENTORY_POLL_DEFAULT)
        );
        assert_eq!(s.retry_poll, Duration::from_secs(7));
        assert!(
            matches!(s.device_key, DeviceKeySource::File(p) if p.ends_with("data/mender-agent.pem"))
        );
    }

    #[test]
    fn the_servers_list_gives_the_first_server() {
        let s = read(
            r#"{"Servers":[{"ServerURL":"https://a.example"},{"ServerURL":"https://b.example"}]}"#,
            &ServerTable::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.url.host(), "a.example");
    }

    #[test]
    fn contradictions_and_bad_values_are_errors_that_name_the_key() {
        for (conf, words) in [
            (
                r#"{"ServerURL":"https://a.example","Servers":[{"ServerURL":"https://b.example"}]}"#,
                "set only one",
            ),
            (r#"{"ServerURL":"http://a.example"}"#, "ServerURL"),
            (
                r#"{"ServerURL":"https://a.example","UpdatePollIntervalSeconds":0}"#,
                "> 0",
            ),
            (
                r#"{"ServerURL":"https://a.example","HttpsClient":{"Certificate":"/c"}}"#,
                "Key is not",
            ),
            (r#"{"Servers":[{"URL":"https://a.example"}]}"#, "each entry"),
        ] {
            let e = read(conf, &ServerTable::default())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(words), "{conf}: {e}");
        }
    }

    #[test]
    fn a_pkcs11_device_key_is_parsed_at_start() {
        let table = ServerTable {
            device_key: Some(
                "pkcs11:token=dev;object=agent?module-path=/usr/lib/p11.so".to_owned(),
            ),
        };
        let s = read(r#"{"ServerURL":"https://a.example"}"#, &table)
            .unwrap()
            .unwrap();
        assert_eq!(
            s.device_key,
            DeviceKeySource::Token(
                "pkcs11:token=dev;object=agent?module-path=/usr/lib/p11.so".to_owned()
            )
        );
        let bad = ServerTable {
            device_key: Some("pkcs11:token=dev;bogus".to_owned()),
        };
        assert!(read(r#"{"ServerURL":"https://a.example"}"#, &bad).is_err());
    }
}
