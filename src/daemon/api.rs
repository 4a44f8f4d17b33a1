//! The local HTTP API (documented in `docs/api.md`): requests are routed, the caller's rights
//! checked, and the blocking installer is run off the event loop.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use super::Daemon;
use super::agent::Trigger;
use super::body::{BodyReader, Events};
use super::installing::{Hooks, Streamed, run_install};
use super::peer::Peer;
use super::wire::{ChangeResult, DaemonStatus, Event, InstallRequest};
use crate::error::{Class, Classify, Failure};
use crate::install::context::Finished;
use crate::install::flow;
use crate::stream::{Sha256Digest, parse_sha256_hex};

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
        (&Method::POST, "/v1/check-update") => trigger(&daemon, peer, Trigger::CheckUpdate),
        (&Method::POST, "/v1/send-inventory") => trigger(&daemon, peer, Trigger::SendInventory),
        (_, "/v1/status") => not_allowed("GET"),
        (_, "/v1/install") => not_allowed("POST, PUT"),
        (_, "/v1/commit" | "/v1/rollback" | "/v1/check-update" | "/v1/send-inventory") => {
            not_allowed("POST")
        }
        _ => refused(
            Class::Config,
            "no_such_endpoint",
            format!("no such endpoint: {path}"),
        ),
    };
    Ok(response)
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
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

/// A failure as its answer: the status derived from its class and code, the body its wire
/// form.
fn error(failure: &Failure) -> Response<Body> {
    let status =
        StatusCode::from_u16(failure.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, failure)
}

fn refused(class: Class, code: &str, message: impl Into<String>) -> Response<Body> {
    error(&Failure::new(class, code, message))
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = refused(Class::Config, "method_not_allowed", "method not allowed");
    r.headers_mut()
        .insert(ALLOW, hyper::header::HeaderValue::from_static(allow));
    r
}

fn forbidden(peer: Peer) -> Response<Body> {
    refused(
        Class::Config,
        "forbidden",
        format!(
            "uid {} may read the status but not change the system: root or the configured \
             install_group is required",
            peer.uid
        ),
    )
}

fn busy(what: &str) -> Response<Body> {
    refused(
        Class::Failed,
        "busy",
        format!("busy: {what} is running; one operation at a time"),
    )
}

/// A blocking task that panicked or was cancelled.
fn task_failed(e: &tokio::task::JoinError) -> Failure {
    Failure::new(
        Class::Failed,
        "internal",
        format!("the operation's task failed: {e}"),
    )
}

async fn status(daemon: &Arc<Daemon>) -> Response<Body> {
    let d = daemon.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut installed = flow::status(&d.paths).map_err(|e| e.failure())?;
        installed.broken_verify_keys = d.broken_keys();
        Ok::<_, Failure>(DaemonStatus {
            installed,
            operation: d.activity(),
            last_boot_check: d.last_resume(),
            channel: d.channel_status(),
            server: d.server_status(),
        })
    })
    .await;
    match report {
        Ok(Ok(report)) => json_response(StatusCode::OK, &report),
        Ok(Err(e)) => error(&e),
        Err(e) => error(&task_failed(&e)),
    }
}

/// What a JSON install request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedInput {
    /// An absolute path on the device.
    Path(PathBuf),
    /// An `https://` URL.
    Url(String),
}

/// Parses a JSON install request: exactly one of an absolute `path` and an `https://` `url`,
/// and optionally `expect_manifest_sha256`.
pub fn parse_install_request(bytes: &[u8]) -> Result<(NamedInput, Option<Sha256Digest>), Failure> {
    let bad = |message: String| Failure::new(Class::Config, "bad_request", message);
    let request: InstallRequest =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("malformed JSON request: {e}")))?;
    let expect = request
        .expect_manifest_sha256
        .as_deref()
        .map(parse_sha256_hex)
        .transpose()
        .map_err(|e| bad(format!("expect_manifest_sha256: {e}")))?;
    let input = match (request.path, request.url) {
        (Some(p), None) if p.is_absolute() => Ok(NamedInput::Path(p)),
        (Some(p), None) => Err(bad(format!("path must be absolute: {}", p.display()))),
        (None, Some(u)) if u.starts_with("https://") => Ok(NamedInput::Url(u)),
        (None, Some(u)) => Err(bad(format!("url must be https://: {u}"))),
        _ => Err(bad("give exactly one of \"path\" and \"url\"".to_owned())),
    }?;
    Ok((input, expect))
}

/// `expect_manifest_sha256=HEX` in a streamed upload's query.
fn query_expectation(query: Option<&str>) -> Result<Option<Sha256Digest>, Failure> {
    let Some(value) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("expect_manifest_sha256="))
    else {
        return Ok(None);
    };
    parse_sha256_hex(value).map(Some).map_err(|e| {
        Failure::new(
            Class::Config,
            "bad_request",
            format!("expect_manifest_sha256: {e}"),
        )
    })
}

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
    let mut expect = match query_expectation(req.uri().query()) {
        Ok(expect) => expect,
        Err(failure) => return error(&failure),
    };
    let input = if is_json {
        let limit = daemon.config.limits.max_request_json_bytes;
        let bytes = match Limited::new(req.into_body(), limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return refused(
                    Class::Config,
                    "bad_request",
                    format!("request body unreadable or over {limit} bytes: {e}"),
                );
            }
        };
        match parse_install_request(&bytes) {
            Ok((named, named_expect)) => {
                expect = named_expect.or(expect);
                match named {
                    NamedInput::Path(p) => Input::Path(p),
                    NamedInput::Url(u) => Input::Url(u),
                }
            }
            Err(failure) => return error(&failure),
        }
    } else {
        if length.is_some_and(|l| l > daemon.config.limits.max_artifact_bytes) {
            return refused(
                Class::Rejected,
                "artifact_too_large",
                format!(
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
            let reader = BodyReader::start(incoming, stop, stall).await;
            (Some((Box::new(reader), length)), None)
        }
        Input::Path(p) => (None, Some(p)),
        Input::Url(u) => (None, Some(PathBuf::from(u))),
    };
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        let hooks = Hooks {
            expect_manifest_sha256: expect,
            ..Hooks::default()
        };
        let result = run_install(&d, reader, source, &events, hooks);
        // The slot is free before the client reads the last event, so its next request is
        // never refused as busy.
        drop(guard);
        match result {
            Ok(done) => events.send(&Event::Result(done)),
            Err(failure) => {
                tracing::error!(
                    class = %failure.class,
                    code = %failure.code,
                    "install failed: {}",
                    failure.message
                );
                events.send(&Event::Error(failure));
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

/// `check-update` and `send-inventory`: handed to the agent, which does it at once.
fn trigger(daemon: &Daemon, peer: Peer, what: Trigger) -> Response<Body> {
    if !peer.may_change(daemon.group) {
        return forbidden(peer);
    }
    if !daemon.trigger(what) {
        return refused(
            Class::Config,
            "no_server",
            "no Mender server is configured (ServerURL in mender.conf)",
        );
    }
    json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"result": match what {
            Trigger::CheckUpdate => "checking for an update",
            Trigger::SendInventory => "sending the inventory",
        }}),
    )
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
        let ctx = d.context(&d.settings()).map_err(|e| e.failure())?;
        match what {
            Change::Commit => flow::commit(&ctx),
            Change::Rollback => flow::rollback(&ctx),
        }
        .map_err(|e| e.failure())
    })
    .await;
    match result {
        Ok(Ok(Finished::Done(artifact_name))) => json_response(
            StatusCode::OK,
            &ChangeResult {
                result: match what {
                    Change::Commit => "committed",
                    Change::Rollback => "rolled back",
                }
                .to_owned(),
                artifact_name,
            },
        ),
        // The API sets no --stop-before.
        Ok(Ok(Finished::Stopped(state))) => refused(
            Class::Failed,
            "update_stopped",
            format!("the {name} stopped before {state}"),
        ),
        Ok(Ok(Finished::NothingPending)) => refused(
            Class::Failed,
            "nothing_pending",
            format!("there is nothing to {name}"),
        ),
        Ok(Err(e)) => error(&e),
        Err(e) => error(&task_failed(&e)),
    }
}
