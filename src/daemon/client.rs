//! The command line as a client of the daemon: `artifact-gate install` hands the artifact to
//! the running service when its socket exists, so one process owns installs on the device
//! (issue #4). A file or URL is named by path; standard input is streamed as the request body.
//! The daemon's progress events drive the same progress display as a local install.

use std::convert::Infallible;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::config::settings::DaemonConfig;
use crate::stream::progress::Meter;

/// Why talking to the daemon failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The connection or the HTTP exchange failed.
    #[error("daemon at {socket}: {detail}")]
    Transport {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The daemon refused the request.
    #[error("daemon refused the install ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },
    /// The install ran and failed.
    #[error("{0}")]
    Failed(String),
}

/// How a daemon install ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonOutcome {
    /// `installed` (waiting for commit) or `committed`.
    pub status: String,
    /// Whether the update needs a reboot.
    pub reboot_required: bool,
    /// Whether the daemon is rebooting the device itself.
    pub rebooting: bool,
}

/// The daemon's socket, if one is there to talk to: `$ARTIFACT_GATE_SOCKET`, else `api.socket`
/// from the daemon's settings file (or its default).
pub fn daemon_socket() -> Option<PathBuf> {
    let path = match std::env::var_os("ARTIFACT_GATE_SOCKET").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => DaemonConfig::load(None).ok()?.api.socket,
    };
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(&path)
        .ok()
        .filter(|m| m.file_type().is_socket())
        .map(|_| path)
}

/// Installs `artifact` (a file, an `https://` URL or `-`) through the daemon at `socket`.
pub fn install(socket: &Path, artifact: &Path) -> Result<DaemonOutcome, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| transport(socket, e))?;
    runtime.block_on(install_async(socket, artifact))
}

fn transport(socket: &Path, detail: impl std::fmt::Display) -> ClientError {
    ClientError::Transport {
        socket: socket.to_owned(),
        detail: detail.to_string(),
    }
}

type UploadBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

async fn install_async(socket: &Path, artifact: &Path) -> Result<DaemonOutcome, ClientError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| transport(socket, e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(socket, e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let text = artifact.to_string_lossy();
    let request = Request::post("http://localhost/v1/install").header("host", "localhost");
    let request = if text == "-" {
        request
            .header("content-type", "application/vnd.mender-artifact")
            .body(stdin_body())
    } else {
        let body = if text.starts_with("https://") || text.starts_with("http://") {
            json!({ "url": text })
        } else {
            let path = std::path::absolute(artifact).map_err(|e| transport(socket, e))?;
            json!({ "path": path })
        };
        request.header("content-type", "application/json").body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
    }
    .map_err(|e| transport(socket, e))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| transport(socket, e))?;
    let status = response.status();
    let mut body = response.into_body();
    if status != StatusCode::OK {
        let bytes = body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        return Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    let mut meter = Meter::new(None, "installing (daemon)");
    let mut pending = Vec::new();
    let mut last: Option<Value> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| transport(socket, e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            match event.get("event").and_then(Value::as_str) {
                Some("progress") => {
                    if let Some(total) = event.get("total").and_then(Value::as_u64) {
                        meter.set_total(total);
                    }
                    meter.set(event.get("bytes").and_then(Value::as_u64).unwrap_or(0));
                }
                Some("phase") => {
                    if let Some(phase) = event.get("phase").and_then(Value::as_str) {
                        meter.set_label(phase);
                    }
                }
                Some("result" | "error") => last = Some(event),
                _ => {}
            }
        }
    }
    meter.finish();
    let Some(last) = last else {
        return Err(transport(
            socket,
            "the daemon ended the stream without a result",
        ));
    };
    if let Some(error) = last.get("error").and_then(Value::as_str) {
        return Err(ClientError::Failed(error.to_owned()));
    }
    Ok(DaemonOutcome {
        status: last
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        reboot_required: last
            .get("reboot_required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        rebooting: last
            .get("rebooting")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Standard input as an upload, read on its own thread in 256 KiB chunks.
fn stdin_body() -> UploadBody {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    ChannelBody { rx }.boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}
