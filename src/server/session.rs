//! A session with the server: the token, held in memory only (never written to disk, so a
//! stolen data partition holds no live credential), and the calls that carry it. A `401` on any
//! call means the token expired or was revoked: the session authenticates again, once, and
//! repeats the call.

use std::path::PathBuf;
use std::sync::Mutex;

use super::ServerError;
use super::attributes;
use super::auth::{AUTH_PATH, parse_token, server_words, sign_request};
use super::device_key::DeviceKey;
use super::settings::ServerSettings;
use crate::fetch::Client;
use crate::fetch::http::Request;
use crate::fetch::url::HttpsUrl;

/// Largest answer body read from the API.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// A status and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body (at most 1 MiB).
    pub body: Vec<u8>,
}

impl Answer {
    /// The server's error message, for an error.
    pub fn words(&self) -> Option<String> {
        server_words(&self.body)
    }

    /// An unexpected status as an error of `what`.
    pub fn unexpected(&self, what: &'static str) -> ServerError {
        ServerError::Status {
            what,
            status: self.status,
            detail: self.words(),
        }
    }
}

/// The device's session with its server.
#[derive(Debug)]
pub struct Session {
    client: Client,
    base: String,
    tenant_token: String,
    key: DeviceKey,
    data_dir: PathBuf,
    token: Mutex<Option<String>>,
}

impl Session {
    /// A session that has not authenticated yet.
    pub fn new(
        client: Client,
        settings: &ServerSettings,
        key: DeviceKey,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            client,
            base: settings.url.to_string().trim_end_matches('/').to_owned(),
            tenant_token: settings.tenant_token.clone(),
            key,
            data_dir,
            token: Mutex::new(None),
        }
    }

    /// The HTTPS client (for downloads, which carry no token).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The device key.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// Whether a token is held.
    pub fn is_authenticated(&self) -> bool {
        self.token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    fn set_token(&self, token: Option<String>) {
        *self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
    }

    fn url(&self, path: &str) -> Result<HttpsUrl, ServerError> {
        Ok(HttpsUrl::parse(&format!("{}{path}", self.base))
            .map_err(crate::fetch::FetchError::from)?)
    }

    /// Sends a signed auth request; keeps the token when the device is accepted.
    pub fn authenticate(&self) -> Result<(), ServerError> {
        let id_data = attributes::identity(&self.data_dir)?;
        let signed = sign_request(&id_data, &self.key, &self.tenant_token)?;
        let url = self.url(AUTH_PATH)?;
        let mut request = Request {
            method: "POST",
            url: &url,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("X-MEN-Signature", signed.signature.clone()),
            ],
            body: &signed.body,
        };
        if !self.tenant_token.is_empty() {
            request = request.header("Authorization", format!("Bearer {}", self.tenant_token));
        }
        let answer = self.exchange(request)?;
        match answer.status {
            200 => {
                self.set_token(Some(parse_token(&answer.body)?));
                tracing::info!("authenticated with {}", self.base);
                Ok(())
            }
            401 => {
                self.set_token(None);
                Err(ServerError::NotAccepted {
                    detail: answer
                        .words()
                        .unwrap_or_else(|| "401 Unauthorized".to_owned()),
                })
            }
            _ => Err(answer.unexpected("authentication")),
        }
    }

    /// One call with the token (authenticating first when none is held); a `401` is answered
    /// by one re-authentication and one repeat.
    pub fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ServerError> {
        let bytes = match body {
            Some(v) => serde_json::to_vec(v).map_err(|e| ServerError::BadAnswer {
                what: "request",
                detail: e.to_string(),
            })?,
            None => Vec::new(),
        };
        let url = self.url(path)?;
        if !self.is_authenticated() {
            self.authenticate()?;
        }
        for attempt in 0..2 {
            let token = self
                .token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            let mut request = Request {
                method,
                url: &url,
                headers: vec![("Authorization", format!("Bearer {token}"))],
                body: &bytes,
            };
            if body.is_some() {
                request = request.header("Content-Type", "application/json");
            }
            let answer = self.exchange(request)?;
            if answer.status != 401 || attempt == 1 {
                return Ok(answer);
            }
            tracing::info!("{method} {path}: the token was refused (401); authenticating again");
            self.set_token(None);
            self.authenticate()?;
        }
        Err(ServerError::NotAccepted {
            detail: "the server refused a fresh token".to_owned(),
        })
    }

    fn exchange(&self, request: Request<'_>) -> Result<Answer, ServerError> {
        let what = request.url.to_string();
        let response = self.client.send(request)?;
        let status = response.status();
        let body = response
            .read_to_vec(MAX_ANSWER_BYTES)
            .map_err(|e| ServerError::BadAnswer {
                what: "answer",
                detail: format!("{what}: {e}"),
            })?;
        Ok(Answer { status, body })
    }
}
