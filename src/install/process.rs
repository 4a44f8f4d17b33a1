//! Running a child process (an Update Module, a state script) with a timeout.
//!
//! Each child gets its own process group, so a timeout stops everything it started; its output
//! is collected on threads (bounded), so a chatty child cannot block on a full pipe.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug)]
pub(crate) enum Ran {
    /// The child exited.
    Exited {
        /// Exit status 0.
        success: bool,
        /// Exit code, or -1 when killed by a signal.
        code: i32,
        /// The last [`MAX_OUTPUT`] bytes of stdout.
        stdout: Vec<u8>,
        /// The last [`MAX_OUTPUT`] bytes of stderr.
        stderr: Vec<u8>,
    },
    /// The child ran past the timeout; its process group was killed.
    TimedOut,
}

/// Runs `command` (stdin closed, output captured) for at most `timeout`.
pub(crate) fn run(command: &mut Command, timeout: Duration) -> io::Result<Ran> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = spawn_retrying(command)?;
    let stdout = child.stdout.take().map(collect);
    let stderr = child.stderr.take().map(collect);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait()? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Ok(Ran::TimedOut);
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    Ok(Ran::Exited {
        success: status.success(),
        code: status.code().unwrap_or(-1),
        stdout: stdout.and_then(|h| h.join().ok()).unwrap_or_default(),
        stderr: stderr.and_then(|h| h.join().ok()).unwrap_or_default(),
    })
}

/// Kills `child`'s whole process group and reaps it.
pub(crate) fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.wait();
}

/// Spawns `command`, retrying while the executable is "text file busy": a file written just
/// before (a module or script put in place by this process) can still be open for writing in a
/// child that another thread forked at that moment, until that child execs.
pub(crate) fn spawn_retrying(command: &mut Command) -> io::Result<std::process::Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e)
                if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32)
                    && attempts < 100 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Reads a child's pipe on its own thread, keeping at most the last [`MAX_OUTPUT`] bytes.
pub(crate) fn collect<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => return kept,
                Ok(n) => {
                    kept.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if kept.len() > MAX_OUTPUT {
                        let cut = kept.len() - MAX_OUTPUT;
                        kept.drain(..cut);
                    }
                }
            }
        }
    })
}

pub(crate) fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim();
    let start = trimmed
        .char_indices()
        .rev()
        .nth(MAX_MESSAGE)
        .map_or(0, |(i, _)| i);
    trimmed.get(start..).unwrap_or_default().to_owned()
}

/// Bytes of output kept per stream.
const MAX_OUTPUT: usize = 64 * 1024;
/// Characters of stderr quoted in an error.
const MAX_MESSAGE: usize = 2000;
