//! The local HTTP API (documented in `docs/api.md`): requests are routed, the caller's rights
//! checked, and the blocking installer is run off the event loop.

use std::convert::Infallible;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::Daemon;
use super::body::{BodyReader, Events, Watched};
use super::peer::Peer;
use crate::install::context::{Finished, InstallOutcome, Observer};
use crate::install::flow;
use crate::install::module::RebootNeed;

/// A response body: a whole JSON document or a stream of events.
pub type Body = BoxBody<Bytes, Infallible>;

/// Routes one request.
pub async fn handle(
    daemon: Arc<Daemon>,
    peer: Peer,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    tracing::debug!(method = %req.method(), path = %path, uid = peer.uid, "request");
    let response = match (req.method(), path.as_str()) {
        (&Method::GET, "/v1/status") => status(&daemon).await,
        (&Method::POST | &Method::PUT, "/v1/install") => install(daemon, peer, req).await,
        (&Method::POST, "/v1/commit") => change(daemon, peer, Change::Commit).await,
        (&Method::POST, "/v1/rollback") => change(daemon, peer, Change::Rollback).await,
        (_, "/v1/status") => not_allowed("GET"),
        (_, "/v1/install") => not_allowed("POST, PUT"),
        (_, "/v1/commit" | "/v1/rollback") => not_allowed("POST"),
        _ => error(StatusCode::NOT_FOUND, &format!("no such endpoint: {path}")),
    };
    Ok(response)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut()
        .insert(ALLOW, hyper::header::HeaderValue::from_static(allow));
    r
}

fn forbidden(peer: Peer) -> Response<Body> {
    error(
        StatusCode::FORBIDDEN,
        &format!(
            "uid {} may read the status but not change the system: root or the configured \
             install_group is required",
            peer.uid
        ),
    )
}

fn busy(what: &str) -> Response<Body> {
    error(
        StatusCode::CONFLICT,
        &format!("busy: {what} is running; one operation at a time"),
    )
}

async fn status(daemon: &Arc<Daemon>) -> Response<Body> {
    let d = daemon.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut report = flow::status(&d.paths).map_err(|e| e.to_string())?;
        if let Value::Object(map) = &mut report {
            map.insert("operation".to_owned(), d.activity());
            map.insert("last_boot_check".to_owned(), d.last_resume());
            map.insert("broken_verify_keys".to_owned(), d.broken_keys());
        }
        Ok::<_, String>(report)
    })
    .await;
    match report {
        Ok(Ok(report)) => json_response(StatusCode::OK, &report),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// What a JSON install request names.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallRequest {
    path: Option<PathBuf>,
    url: Option<String>,
}

/// What a JSON install request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedInput {
    /// An absolute path on the device.
    Path(PathBuf),
    /// An `https://` URL.
    Url(String),
}

/// Parses a JSON install request: exactly one of an absolute `path` and an `https://` `url`.
pub fn parse_install_request(bytes: &[u8]) -> Result<NamedInput, String> {
    let request: InstallRequest =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed JSON request: {e}"))?;
    match (request.path, request.url) {
        (Some(p), None) if p.is_absolute() => Ok(NamedInput::Path(p)),
        (Some(p), None) => Err(format!("path must be absolute: {}", p.display())),
        (None, Some(u)) if u.starts_with("https://") => Ok(NamedInput::Url(u)),
        (None, Some(u)) => Err(format!("url must be https://: {u}")),
        _ => Err("give exactly one of \"path\" and \"url\"".to_owned()),
    }
}

/// An uploaded artifact as a blocking reader, with its announced length.
type Streamed = (Box<dyn Read + Send>, Option<u64>);

enum Input {
    Stream(Incoming, Option<u64>),
    Path(PathBuf),
    Url(String),
}

async fn install(daemon: Arc<Daemon>, peer: Peer, req: Request<Incoming>) -> Response<Body> {
    if !peer.may_change(daemon.group) {
        return forbidden(peer);
    }
    let Some(guard) = daemon.begin("install") else {
        return busy(&daemon.current_operation());
    };
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let input = if is_json {
        let limit = daemon.config.limits.max_request_json_bytes;
        let bytes = match Limited::new(req.into_body(), limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("request body unreadable or over {limit} bytes: {e}"),
                );
            }
        };
        match parse_install_request(&bytes) {
            Ok(NamedInput::Path(p)) => Input::Path(p),
            Ok(NamedInput::Url(u)) => Input::Url(u),
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        }
    } else {
        if length.is_some_and(|l| l > daemon.config.limits.max_artifact_bytes) {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "artifact of {} bytes is over max_artifact_bytes ({})",
                    length.unwrap_or_default(),
                    daemon.config.limits.max_artifact_bytes
                ),
            );
        }
        Input::Stream(req.into_body(), length)
    };
    let (events, body) = Events::channel();
    let (reader, source): (Option<Streamed>, _) = match input {
        Input::Stream(incoming, length) => {
            let stop = daemon.stop.subscribe();
            let stall = std::time::Duration::from_secs(daemon.config.limits.upload_stall_seconds);
            let reader = BodyReader::spawn(incoming, stop, stall);
            (Some((Box::new(reader), length)), None)
        }
        Input::Path(p) => (None, Some(p)),
        Input::Url(u) => (None, Some(PathBuf::from(u))),
    };
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        let result = run_install(&d, reader, source, &events);
        // The slot is free before the client reads the last event, so its next request is
        // never refused as busy.
        drop(guard);
        match result {
            Ok(value) => events.send(&value),
            Err(message) => {
                tracing::error!("install failed: {message}");
                events.send(&json!({ "event": "error", "error": message }));
            }
        }
    });
    let mut response = Response::new(body.boxed());
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// The install itself, on a blocking thread. Returns the final event.
fn run_install(
    daemon: &Arc<Daemon>,
    stream: Option<Streamed>,
    source: Option<PathBuf>,
    events: &Events,
) -> Result<Value, String> {
    let mut ctx = daemon.context().map_err(|e| e.to_string())?;
    let (phase_events, d) = (events.clone(), daemon.clone());
    ctx.observer = Observer::new(move |phase| {
        d.set_phase(phase.name());
        phase_events.send(&json!({ "event": "phase", "phase": phase.name() }));
    });
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = match (stream, source) {
        (Some(stream), _) => stream,
        (None, Some(source)) => {
            let total = std::fs::metadata(&source)
                .ok()
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len());
            let input = crate::config::resolve::open_input(&daemon.paths, None, &source)
                .map_err(|e| e.to_string())?;
            (input, total)
        }
        (None, None) => return Err("no input".to_owned()),
    };
    let input = Watched::new(input, total, daemon.cancel.clone(), events.clone());
    let outcome = flow::install(input, &ctx).map_err(|e| e.to_string())?;
    let (mut status, reboot) = match outcome {
        InstallOutcome::Committed { reboot } => ("committed", reboot),
        InstallOutcome::Pending { reboot } => ("installed", reboot),
    };
    if status == "installed" && reboot == RebootNeed::No && daemon.config.update.auto_commit {
        match flow::commit(&ctx).map_err(|e| e.to_string())? {
            Finished::Done(_) => status = "committed",
            Finished::NothingPending => {}
        }
    }
    let reboot_word = reboot.as_str();
    let rebooting = reboot != RebootNeed::No && daemon.config.update.reboot_after_install;
    tracing::info!(
        result = status,
        reboot = reboot_word,
        rebooting,
        "install finished"
    );
    if rebooting {
        daemon.schedule_reboot("into the update");
    }
    Ok(json!({
        "event": "result",
        "status": status,
        "reboot": reboot_word,
        "reboot_required": reboot != RebootNeed::No,
        "rebooting": rebooting,
    }))
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Commit,
    Rollback,
}

async fn change(daemon: Arc<Daemon>, peer: Peer, what: Change) -> Response<Body> {
    if !peer.may_change(daemon.group) {
        return forbidden(peer);
    }
    let name = match what {
        Change::Commit => "commit",
        Change::Rollback => "rollback",
    };
    let Some(guard) = daemon.begin(name) else {
        return busy(&daemon.current_operation());
    };
    let d = daemon.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let ctx = d.context().map_err(|e| e.to_string())?;
        match what {
            Change::Commit => flow::commit(&ctx),
            Change::Rollback => flow::rollback(&ctx),
        }
        .map_err(|e| e.to_string())
    })
    .await;
    match result {
        Ok(Ok(Finished::Done(artifact))) => json_response(
            StatusCode::OK,
            &json!({ "result": match what { Change::Commit => "committed", Change::Rollback => "rolled back" }, "artifact_name": artifact }),
        ),
        Ok(Ok(Finished::NothingPending)) => {
            error(StatusCode::CONFLICT, &format!("there is nothing to {name}"))
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
