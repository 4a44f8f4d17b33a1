//! The Mender server agent's device side (issue #15): what a device with a `ServerURL` in its
//! mender.conf needs to show up in the Mender UI and take deployments from it, as the Mender
//! client does, through Mender's device API (deviceauth, deployments, inventory):
//!
//! - [`settings`]: the server, the tenant token, the intervals, mutual TLS, the device key;
//! - [`attributes`]: the identity and inventory scripts;
//! - [`device_key`]: the key pair that signs auth requests (a file, or a `pkcs11:` token);
//! - [`auth`]: the signed auth request; [`session`]: the token, and re-authentication on 401;
//! - [`deployments`]: the next deployment, status reports, the deployment log, the inventory;
//! - [`outbox`]: the deployment in flight, kept on disk across the reboot into an update.
//!
//! Synchronous and blocking, like [`crate::fetch`], which carries every request. The loop that
//! polls, installs and reports is the daemon's ([`crate::daemon`]'s `agent`).

pub mod attributes;
pub mod auth;
pub mod deployments;
pub mod device_key;
pub mod outbox;
pub mod session;
pub mod settings;

use std::path::PathBuf;

use thiserror::Error;

use crate::config::mender_conf::{MenderConfig, MenderPaths};
use crate::fetch::retry::DownloadPolicy;
use crate::fetch::{Client, FetchError};
use device_key::DeviceKey;
use settings::{DeviceKeySource, ServerSettings, ServerTable};

/// What can be checked before the agent runs: the settings, the HTTPS client, and the device
/// key unless it is still to be created.
#[derive(Debug)]
pub struct Prepared {
    /// The settings.
    pub settings: ServerSettings,
    /// A client with `ServerCertificate` and `HttpsClient`.
    pub client: Client,
    /// The device key; `None` when its file is yet to be made.
    pub key: Option<DeviceKey>,
}

/// Checks everything in the configuration that can be wrong: the settings, `ServerCertificate`
/// and `HttpsClient`, and a device key that exists (or a `pkcs11:` one). `None` when mender.conf
/// names no server. A missing key file is left to be created: an RSA 3072 key takes a while on
/// a small board.
pub fn prepare(
    mender: &MenderConfig,
    paths: &MenderPaths,
    table: &ServerTable,
    policy: DownloadPolicy,
) -> Result<Option<Prepared>, ServerError> {
    let Some(settings) = ServerSettings::read(mender, paths, table)? else {
        return Ok(None);
    };
    let client = Client::with_identity(
        settings.server_certificate.as_deref(),
        settings.client_identity.as_ref(),
        policy,
    )?;
    let key = match &settings.device_key {
        DeviceKeySource::File(path) if !path.exists() => None,
        source => Some(DeviceKey::open(source)?),
    };
    Ok(Some(Prepared {
        settings,
        client,
        key,
    }))
}

/// The agent could not do what it was asked.
#[derive(Debug, Error)]
pub enum ServerError {
    /// A mender.conf or `[server]` setting that cannot be used.
    #[error("{}: {key}: {detail}", file.display())]
    Setting {
        /// The file that set it.
        file: PathBuf,
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// The identity script failed.
    #[error("identity script {}: {detail}", script.display())]
    Identity {
        /// The script.
        script: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The device key cannot be read, created or used.
    #[error("device key {key}: {detail}")]
    DeviceKey {
        /// The file or URI.
        key: String,
        /// Why.
        detail: String,
    },
    /// No answer from the server.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The server does not (yet) accept the device.
    #[error(
        "the server has not accepted this device (yet): {detail}; accept it in the Mender UI \
         (Devices → Pending), or check TenantToken"
    )]
    NotAccepted {
        /// The server's words.
        detail: String,
    },
    /// The server answered a call with an unexpected status.
    #[error("{what}: the server answered {status}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Status {
        /// Which call.
        what: &'static str,
        /// The status.
        status: u16,
        /// The server's error message, if it gave one.
        detail: Option<String>,
    },
    /// The server's answer cannot be used.
    #[error("{what}: the server's answer cannot be used: {detail}")]
    BadAnswer {
        /// Which call.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The device's own state (its settings, its state files) failed in the middle of the
    /// agent's work.
    #[error("the device: {0}")]
    Device(String),
    /// A status report was answered 409: the deployment was aborted on the server.
    #[error("deployment {id} was aborted on the server")]
    Aborted {
        /// The deployment.
        id: String,
    },
}

impl ServerError {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Fetch(e) => e.is_transient(),
            Self::NotAccepted { .. } => true,
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }
}
