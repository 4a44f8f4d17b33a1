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
use thiserror::Error;
use tokio::sync::mpsc;

use super::wire::{Event, InstallRequest, InstallResult};
use crate::config::resolve::Settings;
use crate::error::{Class, Failure};
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
    #[error("daemon refused the install ({status}): {failure}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The daemon's answer.
        failure: Failure,
    },
    /// The install ran and failed.
    #[error("{0}")]
    Failed(Failure),
}

impl ClientError {
    /// The failure as the daemon classified it; talking to the daemon at all failing is
    /// `failed` (`daemon_unreachable`).
    pub fn failure(&self) -> Failure {
        match self {
            Self::Transport { .. } => {
                Failure::new(Class::Failed, "daemon_unreachable", self.to_string())
            }
            Self::Refused { failure, .. } => Failure {
                message: self.to_string(),
                ..failure.clone()
            },
            Self::Failed(failure) => failure.clone(),
        }
    }
}

/// The daemon's socket, if one is there to talk to: `$ARTIFACT_GATE_SOCKET`, else `api.socket`
/// from the daemon's settings file (or its default).
pub fn daemon_socket(settings: &Settings) -> Option<PathBuf> {
    let path = match std::env::var_os("ARTIFACT_GATE_SOCKET").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => settings.gate().ok()?.api.socket.clone(),
    };
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(&path)
        .ok()
        .filter(|m| m.file_type().is_socket())
        .map(|_| path)
}

/// Installs `artifact` (a file, an `https://` URL or `-`) through the daemon at `socket`.
pub fn install(
    socket: &Path,
    artifact: &Path,
    expect: Option<&crate::stream::Sha256Digest>,
) -> Result<InstallResult, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| transport(socket, e))?;
    runtime.block_on(install_async(socket, artifact, expect.map(hex::encode)))
}

/// `POST path` to the daemon at `socket` (`/v1/check-update`, `/v1/send-inventory`): returns
/// the daemon's `result` words.
pub fn trigger(socket: &Path, path: &str) -> Result<String, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| transport(socket, e))?;
    runtime.block_on(async {
        let mut sender = connect(socket).await?;
        let request = Request::post(format!("http://localhost{path}"))
            .header("host", "localhost")
            .body(bytes_body(Bytes::new()))
            .map_err(|e| transport(socket, e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| transport(socket, e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .map_err(|e| transport(socket, e))?;
        if status.is_success() {
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            return Ok(value
                .get("result")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("done")
                .to_owned());
        }
        Err(refusal(status, &bytes))
    })
}

/// A connection to the daemon at `socket`, driven on the runtime.
async fn connect(
    socket: &Path,
) -> Result<hyper::client::conn::http1::SendRequest<UploadBody>, ClientError> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| transport(socket, e))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport(socket, e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

fn bytes_body(bytes: Bytes) -> UploadBody {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// The daemon's refusal: its failure object, or its words when it sent none.
fn refusal(status: StatusCode, bytes: &[u8]) -> ClientError {
    let failure = serde_json::from_slice::<Failure>(bytes).unwrap_or_else(|_| {
        Failure::new(
            Class::Failed,
            "daemon_unreachable",
            String::from_utf8_lossy(bytes).into_owned(),
        )
    });
    ClientError::Refused {
        status: status.as_u16(),
        failure,
    }
}

fn transport(socket: &Path, detail: impl std::fmt::Display) -> ClientError {
    ClientError::Transport {
        socket: socket.to_owned(),
        detail: detail.to_string(),
    }
}

type UploadBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

async fn install_async(
    socket: &Path,
    artifact: &Path,
    expect: Option<String>,
) -> Result<InstallResult, ClientError> {
    let mut sender = connect(socket).await?;
    let text = artifact.to_string_lossy();
    let target = match &expect {
        Some(hex) => format!("http://localhost/v1/install?expect_manifest_sha256={hex}"),
        None => "http://localhost/v1/install".to_owned(),
    };
    let request = Request::post(target).header("host", "localhost");
    let request = if text == "-" {
        request
            .header("content-type", "application/vnd.mender-artifact")
            .body(stdin_body())
    } else {
        let body = if text.starts_with("https://") || text.starts_with("http://") {
            InstallRequest {
                url: Some(text.into_owned()),
                expect_manifest_sha256: expect.clone(),
                ..InstallRequest::default()
            }
        } else {
            let path = std::path::absolute(artifact).map_err(|e| transport(socket, e))?;
            InstallRequest {
                path: Some(path),
                expect_manifest_sha256: expect.clone(),
                ..InstallRequest::default()
            }
        };
        let body = serde_json::to_vec(&body).map_err(|e| transport(socket, e))?;
        request
            .header("content-type", "application/json")
            .body(bytes_body(Bytes::from(body)))
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
        return Err(refusal(status, &bytes));
    }
    let mut meter = Meter::new(None, "installing (daemon)");
    let mut pending = Vec::new();
    let mut last: Option<Event> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| transport(socket, e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(event) = serde_json::from_slice::<Event>(&line) else {
                continue;
            };
            match event {
                Event::Progress { bytes, total } => {
                    if let Some(total) = total {
                        meter.set_total(total);
                    }
                    meter.set(bytes);
                }
                Event::Phase { phase } => meter.set_label(&phase),
                Event::Result(_) | Event::Error(_) => last = Some(event),
            }
        }
    }
    meter.finish();
    match last {
        Some(Event::Result(result)) => Ok(result),
        Some(Event::Error(failure)) => Err(ClientError::Failed(failure)),
        _ => Err(transport(
            socket,
            "the daemon ended the stream without a result",
        )),
    }
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
