//! The deployments and inventory calls (Mender's `devices_v1.yaml` of deployments and
//! inventory): the next deployment, status reports, the deployment log, the attributes.
//!
//! The next deployment is asked with the device's provides through `POST
//! /api/devices/v2/.../next` (`{"device_provides": …}`, Mender Enterprise), falling back on a
//! 404 to `POST /api/devices/v1/.../next` and then to the `GET` with `artifact_name` and
//! `device_type` in the query, as the Go client does; the first endpoint that answers is kept
//! for the session.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ServerError;
use super::attributes::Attribute;
use super::session::Session;
use crate::state::provides::Provides;

const V2_NEXT: &str = "/api/devices/v2/deployments/device/deployments/next";
const V1_NEXT: &str = "/api/devices/v1/deployments/device/deployments/next";
const DEPLOYMENT: &str = "/api/devices/v1/deployments/device/deployments";
const INVENTORY: &str = "/api/devices/v1/inventory/device/attributes";

/// A deployment for this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// Its id.
    pub id: String,
    /// The artifact it installs.
    pub artifact_name: String,
    /// Where the artifact is (often another host, an object store: no token goes there).
    pub uri: String,
    /// The device types the artifact is for.
    pub device_types: Vec<String>,
}

#[derive(Deserialize)]
struct Instructions {
    id: String,
    artifact: InstructionsArtifact,
}

#[derive(Deserialize)]
struct InstructionsArtifact {
    artifact_name: String,
    source: Source,
    #[serde(default)]
    device_types_compatible: Vec<String>,
}

#[derive(Deserialize)]
struct Source {
    uri: String,
}

/// Parses a `200` answer to the next-deployment call.
pub fn parse_instructions(body: &[u8]) -> Result<Deployment, ServerError> {
    let bad = |detail: String| ServerError::BadAnswer {
        what: "next deployment",
        detail,
    };
    let i: Instructions = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if i.id.is_empty()
        || i.id.len() > 256
        || !i.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(bad(format!(
            "deployment id {} is not an id",
            crate::error::escape::quoted(&i.id)
        )));
    }
    if i.artifact.artifact_name.is_empty() {
        return Err(bad("the artifact has no name".to_owned()));
    }
    Ok(Deployment {
        id: i.id,
        artifact_name: i.artifact.artifact_name,
        uri: i.artifact.source.uri,
        device_types: i.artifact.device_types_compatible,
    })
}

/// Which next-deployment endpoint the server has (0: v2 POST, 1: v1 POST, 2: v1 GET).
#[derive(Debug, Default)]
pub struct NextEndpoint(AtomicUsize);

/// The next deployment, if there is one.
pub fn next(
    session: &Session,
    endpoint: &NextEndpoint,
    device_type: &str,
    provides: &Provides,
) -> Result<Option<Deployment>, ServerError> {
    let name = provides
        .artifact_name
        .clone()
        .unwrap_or_else(|| "unknown".to_owned());
    let mut all = serde_json::Map::new();
    for (k, v) in &provides.values {
        all.insert(k.clone(), json!(v));
    }
    if let Some(group) = &provides.artifact_group {
        all.insert("artifact_group".to_owned(), json!(group));
    }
    all.insert("artifact_name".to_owned(), json!(name));
    all.insert("device_type".to_owned(), json!(device_type));
    let v2 = json!({"device_provides": all, "update_control_map": false});
    let v1 = json!({"artifact_name": name, "device_type": device_type, "artifact_provides": provides.values});
    let query = format!(
        "{V1_NEXT}?artifact_name={}&device_type={}",
        crate::fetch::url::percent_encode(&name),
        crate::fetch::url::percent_encode(device_type)
    );
    let start = endpoint.0.load(Ordering::Relaxed);
    for which in start..3 {
        let answer = match which {
            0 => session.call("POST", V2_NEXT, Some(&v2))?,
            1 => session.call("POST", V1_NEXT, Some(&v1))?,
            _ => session.call("GET", &query, None)?,
        };
        match answer.status {
            404 if which < 2 => continue,
            200 => {
                endpoint.0.store(which, Ordering::Relaxed);
                return parse_instructions(&answer.body).map(Some);
            }
            204 => {
                endpoint.0.store(which, Ordering::Relaxed);
                return Ok(None);
            }
            _ => return Err(answer.unexpected("next deployment")),
        }
    }
    Err(ServerError::Status {
        what: "next deployment",
        status: 404,
        detail: Some("the server has none of the next-deployment endpoints".to_owned()),
    })
}

/// A deployment status, as the API's enum spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Fetching the artifact.
    #[serde(rename = "downloading")]
    Downloading,
    /// Installing it.
    #[serde(rename = "installing")]
    Installing,
    /// Rebooting into it.
    #[serde(rename = "rebooting")]
    Rebooting,
    /// Installed and committed.
    #[serde(rename = "success")]
    Success,
    /// Not installed (or rolled back).
    #[serde(rename = "failure")]
    Failure,
    /// The device already runs it.
    #[serde(rename = "already-installed")]
    AlreadyInstalled,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Downloading => "downloading",
            Self::Installing => "installing",
            Self::Rebooting => "rebooting",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::AlreadyInstalled => "already-installed",
        }
    }
}

/// Reports `status`; a `409` means the deployment was aborted on the server.
pub fn report(session: &Session, id: &str, status: Status) -> Result<(), ServerError> {
    let answer = session.call(
        "PUT",
        &format!("{DEPLOYMENT}/{id}/status"),
        Some(&json!({"status": status})),
    )?;
    match answer.status {
        200 | 204 => Ok(()),
        409 => Err(ServerError::Aborted { id: id.to_owned() }),
        _ => Err(answer.unexpected("status report")),
    }
}

/// One line of a deployment log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339.
    pub timestamp: String,
    /// `info`, `warning`, `error`.
    pub level: String,
    /// The text.
    pub message: String,
}

/// Uploads the deployment log (`PUT …/log`).
pub fn upload_log(session: &Session, id: &str, lines: &[LogLine]) -> Result<(), ServerError> {
    let answer = session.call(
        "PUT",
        &format!("{DEPLOYMENT}/{id}/log"),
        Some(&json!({"messages": lines})),
    )?;
    match answer.status {
        200 | 204 => Ok(()),
        _ => Err(answer.unexpected("log upload")),
    }
}

/// Replaces the device's attributes (`PUT`, then `PATCH` where `PUT` is not allowed).
pub fn send_inventory(session: &Session, attributes: &[Attribute]) -> Result<(), ServerError> {
    let body = json!(attributes);
    let mut answer = session.call("PUT", INVENTORY, Some(&body))?;
    if answer.status == 405 {
        answer = session.call("PATCH", INVENTORY, Some(&body))?;
    }
    match answer.status {
        200 | 204 => Ok(()),
        _ => Err(answer.unexpected("inventory")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_parse_as_the_api_documents_them() {
        let d = parse_instructions(
            br#"{"id":"w81s4fae-7dec-11d0-a765-00a0c91e6bf6","artifact":{"artifact_name":"my-app-0.1",
               "source":{"uri":"https://aws.myupdatebucket.com/image123","expire":"2016-03-11T13:03:17.063493443Z"},
               "device_types_compatible":["rspi","rspi2"]}}"#,
        )
        .unwrap();
        assert_eq!(d.id, "w81s4fae-7dec-11d0-a765-00a0c91e6bf6");
        assert_eq!(d.artifact_name, "my-app-0.1");
        assert_eq!(d.uri, "https://aws.myupdatebucket.com/image123");
        assert_eq!(d.device_types, ["rspi", "rspi2"]);
    }

    #[test]
    fn unusable_instructions_are_refused_in_words() {
        for (body, words) in [
            (&br#"{"id":"x"}"#[..], "missing field"),
            (br#"{"id":"../../etc","artifact":{"artifact_name":"a","source":{"uri":"https://a"}}}"#, "not an id"),
            (br#"{"id":"1","artifact":{"artifact_name":"","source":{"uri":"https://a"}}}"#, "no name"),
        ] {
            let e = parse_instructions(body).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn statuses_are_the_api_enum() {
        assert_eq!(json!(Status::AlreadyInstalled), json!("already-installed"));
        assert_eq!(Status::Rebooting.as_str(), "rebooting");
    }
}
