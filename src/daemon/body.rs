//! Bridges between the async HTTP side and the synchronous installer: a request body read as a
//! blocking [`Read`], and installer events written into a streamed response body.

use std::convert::Infallible;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

use super::wire::Event;
use crate::error::Interruption;

/// Chunks in flight between the socket and the installer; with hyper's own buffering this
/// keeps a streamed upload to a few hundred KiB in memory however large the artifact.
const QUEUE: usize = 8;

/// The request body as a blocking reader. A task pumps frames into a bounded queue; the reader
/// takes them on the installer's thread, so backpressure reaches the client's socket.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl BodyReader {
    /// Starts pumping `body` on the current runtime and returns once its first frame is in
    /// (or the body ended, failed, stalled or the service began stopping). When `stop` turns
    /// true the reader fails at once, even if the client has gone quiet. An upload that sends
    /// nothing for `stall` is abandoned, so a stuck client cannot hold the one operation slot
    /// forever.
    ///
    /// Why wait for the first frame: hyper answers `Expect: 100-continue` only when the body is
    /// first read *and* no response head has gone out yet (RFC 9110 §10.1.1). A handler that
    /// returned its streamed response at once would send `200` first, and the client (curl
    /// asks for 100-continue on every upload over 1 MiB) would sit out its own timeout — a
    /// whole second with curl — before sending a byte.
    pub async fn start(
        mut body: Incoming,
        mut stop: tokio::sync::watch::Receiver<bool>,
        stall: std::time::Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut first = Some(first_tx);
            loop {
                let frame = tokio::select! {
                    frame = tokio::time::timeout(stall, body.frame()) => match frame {
                        Ok(frame) => frame.map(|r| r.map_err(|e| e.to_string())),
                        Err(_) => Some(Err(format!("no data for {} s", stall.as_secs()))),
                    },
                    () = stopped(&mut stop) => {
                        let _ = tx
                            .send(Err(Interruption::io("the service is stopping; install abandoned before activation")))
                            .await;
                        break;
                    }
                };
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
                let item = match frame {
                    None => break,
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if data.is_empty() => continue,
                        Ok(data) => Ok(data),
                        // Trailers carry nothing we use.
                        Err(_) => continue,
                    },
                    Some(Err(e)) => Err(Interruption::io(format!("the upload broke off: {e}"))),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        // An error from the pump dropping its sender is fine: the reader sees the end itself.
        let _ = first_rx.await;
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

/// Resolves once the stop flag is true (never, if its sender is gone without stopping).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = *stop.borrow_and_update();
        if stopping {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(self.current.get(..n).unwrap_or_default());
        self.current.advance(n);
        Ok(n)
    }
}

/// Wraps the installer's input: counts bytes for progress events and stops the read when the
/// service is stopping, which sends the install down its error path before anything activates.
/// (The error is not `Interrupted`: readers retry those.)
pub struct CancellableProgress<R> {
    inner: R,
    cancel: Arc<AtomicBool>,
    done: u64,
    total: Option<u64>,
    next_report: u64,
    events: Events,
}

impl<R: Read> CancellableProgress<R> {
    /// Watches `inner` (of `total` bytes when known).
    pub fn new(inner: R, total: Option<u64>, cancel: Arc<AtomicBool>, events: Events) -> Self {
        Self {
            inner,
            cancel,
            done: 0,
            total,
            next_report: 0,
            events,
        }
    }
}

/// Progress events at most every 1 % (or every 8 MiB when the size is unknown).
const UNKNOWN_STEP: u64 = 8 * 1024 * 1024;

impl<R: Read> Read for CancellableProgress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Interruption::io(
                "the service is stopping; install abandoned before activation",
            ));
        }
        let n = self.inner.read(buf)?;
        self.done = self.done.saturating_add(n as u64);
        if self.done >= self.next_report || n == 0 {
            self.events.send(&Event::Progress {
                bytes: self.done,
                total: self.total,
            });
            let step = self
                .total
                .map_or(UNKNOWN_STEP, |t| (t / 100).max(64 * 1024));
            self.next_report = self.done.saturating_add(step);
        }
        Ok(n)
    }
}

/// The sending side of a streamed response: one JSON object per line.
#[derive(Clone)]
pub struct Events(mpsc::UnboundedSender<Bytes>);

impl Events {
    /// A sender and the response body it feeds.
    pub fn channel() -> (Self, EventBody) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), EventBody { rx })
    }

    /// Sends one event; a client that went away is not an error for the installer.
    pub fn send(&self, event: &Event) {
        let mut line = serde_json::to_string(event).unwrap_or_default();
        line.push('\n');
        let _ = self.0.send(Bytes::from(line));
    }
}

/// A response body of newline-delimited JSON events, ending when every sender is gone.
pub struct EventBody {
    rx: mpsc::UnboundedReceiver<Bytes>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}
