//! The pipelined payload decoder ([`Threads::Pipelined`](crate::stream::Threads)): inflating
//! on a worker thread, beside the calling thread's tar parsing and hashing.
//!
//! The calling thread still does every read from the source (the outer tar is not `Send`); it
//! hands compressed chunks to the worker and takes decompressed chunks back, through channels of
//! fixed depth, so memory stays bounded. Chunks go back to the side that fills them once they are
//! used, so the steady state allocates nothing.

use std::io::{self, Cursor, Read};
use std::sync::mpsc;

use super::{Compression, guarded_decoder, read_full};
use crate::stream::limits::Limits;

/// Starts the worker over `source`, whose magic bytes were checked already.
pub(super) fn start<'a, R: Read + 'a>(
    source: R,
    named: Compression,
    limits: Limits,
) -> io::Result<Box<dyn Read + 'a>> {
    let (compressed_tx, compressed_rx) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
    let (plain_tx, plain_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(PIPE_DEPTH);
    let (used_compressed_tx, used_compressed_rx) = mpsc::sync_channel::<Vec<u8>>(SPARES);
    let (used_plain_tx, used_plain_rx) = mpsc::sync_channel::<Vec<u8>>(SPARES);
    let worker = std::thread::Builder::new()
        .name("inflate".to_owned())
        .spawn(move || {
            let input = ChannelReader {
                rx: compressed_rx,
                chunk: Cursor::new(Vec::new()),
                used: used_compressed_tx,
            };
            let mut decoder = match guarded_decoder(input, named, &limits) {
                Ok(d) => d,
                Err(e) => {
                    let _ = plain_tx.send(Err(e));
                    return;
                }
            };
            loop {
                let mut chunk = spare_chunk(&used_plain_rx);
                match read_full(&mut decoder, &mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        if plain_tx.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = plain_tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
    Ok(Box::new(Pipeline {
        source,
        to_worker: Some(compressed_tx),
        pending: None,
        used_compressed: used_compressed_rx,
        from_worker: Some(plain_rx),
        used_plain: used_plain_tx,
        current: Cursor::new(Vec::new()),
        worker: Some(worker),
    }))
}

/// A used chunk back from the other side, or a new one while too few are in circulation; always
/// [`PIPE_CHUNK`] bytes long.
fn spare_chunk(used: &mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    let mut chunk = used.try_recv().unwrap_or_default();
    // A full chunk comes back full; only a short last read leaves a tail to zero.
    chunk.resize(PIPE_CHUNK, 0);
    chunk
}

/// The worker's input: compressed chunks from the calling thread; the end when it hangs up.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Cursor<Vec<u8>>,
    used: mpsc::SyncSender<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.chunk.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.rx.recv() {
                Ok(next) => {
                    let used = std::mem::replace(&mut self.chunk, Cursor::new(next));
                    // A full spare queue (or a caller gone) just lets the chunk be freed.
                    let _ = self.used.try_send(used.into_inner());
                }
                Err(_) => return Ok(0),
            }
        }
    }
}

/// The calling thread's side of the pipeline.
struct Pipeline<R> {
    source: R,
    to_worker: Option<mpsc::SyncSender<Vec<u8>>>,
    pending: Option<Vec<u8>>,
    used_compressed: mpsc::Receiver<Vec<u8>>,
    from_worker: Option<mpsc::Receiver<io::Result<Vec<u8>>>>,
    used_plain: mpsc::SyncSender<Vec<u8>>,
    current: Cursor<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl<R: Read> Pipeline<R> {
    /// Moves compressed data towards the worker without blocking; `false` when it cannot
    /// (the channel is full or the source is exhausted).
    fn pump(&mut self) -> io::Result<bool> {
        let Some(tx) = &self.to_worker else {
            return Ok(false);
        };
        let chunk = match self.pending.take() {
            Some(chunk) => chunk,
            None => {
                let mut chunk = spare_chunk(&self.used_compressed);
                let n = read_full(&mut self.source, &mut chunk)?;
                if n == 0 {
                    // Hanging up tells the worker the compressed stream has ended.
                    self.to_worker = None;
                    return Ok(true);
                }
                chunk.truncate(n);
                chunk
            }
        };
        match tx.try_send(chunk) {
            Ok(()) => Ok(true),
            Err(mpsc::TrySendError::Full(chunk)) => {
                self.pending = Some(chunk);
                Ok(false)
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                // The worker stopped (end of stream or an error it has queued for us).
                self.to_worker = None;
                Ok(false)
            }
        }
    }
}

impl<R: Read> Read for Pipeline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let polled = match &self.from_worker {
                None => return Ok(0),
                Some(rx) => rx.try_recv(),
            };
            let next = match polled {
                Ok(next) => next,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.from_worker = None;
                    return Ok(0);
                }
                Err(mpsc::TryRecvError::Empty) => {
                    if self.pump()? {
                        continue;
                    }
                    // The worker has all it can take (or all there is): wait for its output.
                    match self.from_worker.as_ref().map(mpsc::Receiver::recv) {
                        Some(Ok(next)) => next,
                        _ => {
                            self.from_worker = None;
                            return Ok(0);
                        }
                    }
                }
            };
            let used = std::mem::replace(&mut self.current, Cursor::new(next?));
            let _ = self.used_plain.try_send(used.into_inner());
        }
    }
}

impl<R> Drop for Pipeline<R> {
    fn drop(&mut self) {
        // Hang up both channels first, so a worker blocked on either one wakes and exits.
        self.to_worker = None;
        self.from_worker = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// Bytes per chunk between the calling thread and the inflate worker.
const PIPE_CHUNK: usize = 256 * 1024;
/// Chunks queued in each direction.
const PIPE_DEPTH: usize = 4;
/// Used chunks kept for reuse in each direction: as many as can be in flight (the queue, one
/// being filled, one being drained).
const SPARES: usize = PIPE_DEPTH + 2;
