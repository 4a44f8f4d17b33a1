//! The `Download` state: streaming verified-as-it-goes payload files into an Update Module.
//!
//! Spec §8.3: before the module starts, `stream-next` is a FIFO. For each payload file the client
//! makes the FIFO `streams/<name>`, writes `streams/<name>\n` (or `streams/<name> <size>\n` for
//! `DownloadWithFileSizes`) into `stream-next`, then the file's bytes into its stream. After the
//! last file, opening and closing `stream-next` without writing tells the module the end. A
//! module that exits 0 without ever opening `stream-next` gets the files in `files/` instead.
//!
//! Stricter than Mender: the last [`HOLD_BACK`] bytes of each file (all of a smaller file) are
//! held back, and written and the stream closed — the module sees its end — only after the
//! file's SHA-256 matched the signed manifest ([`PayloadSink::file_verified`]). When a hash does
//! not match, the module is killed with the tail unsent and the stream still open, so no module
//! ever holds every byte of a tampered file, even one that writes as it reads
//! (`cat stream > partition`): whichever byte was changed, its copy lacks the file's end.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::stat::Mode;
use thiserror::Error;

use super::module::{CurrentSystem, ModuleError, ModuleState, ModuleTree, UpdateModule};
use super::process;
use crate::artifact::{
    CheckedHeader, PayloadFileInfo, PayloadSink, SinkError, VerifiedArtifact, VerifiedFile,
};
use crate::signature::VerifiedManifest;
use crate::stream::Sha256Digest;

/// How many bytes at the end of each streamed file wait for its hash check (a few of the pipe
/// writes a module sees; the whole file when it is smaller). Memory stays bounded: at most twice
/// this is buffered.
pub const HOLD_BACK: usize = 64 * 1024;

/// How the module took the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Through `stream-next` and `streams/`.
    Streams,
    /// As regular files in `files/` (the module did not read streams).
    Files,
}

/// Why the download into a module failed.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// A module call failed.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The payload has no module (empty payloads need none).
    #[error("an empty payload has no Update Module to download into")]
    NoPayloadType,
    /// The module exited while files were still to come.
    #[error("Update Module exited during Download before it took '{0}'")]
    ExitedEarly(String),
    /// The module started reading streams but did not finish (Mender's wording).
    #[error("Update Module started downloading, but did not finish")]
    DidNotFinish,
    /// Writing into the tree failed.
    #[error("Download: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: io::Error,
    },
    /// `finish` was offered the proof of another read than the one this download was fed.
    #[error("refusing to finish the download: the verified artifact is not the one streamed")]
    NotThisArtifact,
    /// No progress before the module timeout.
    #[error("Update Module Download did not finish within {0} s")]
    TimedOut(u64),
}

/// Where the module comes from and what it is told about the device.
#[derive(Debug, Clone)]
pub struct ModuleSetup {
    /// `/usr/share/mender` (or `$MENDER_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `<datastore>/modules/v3/payloads/0000/tree`.
    pub tree_root: PathBuf,
    /// The running system.
    pub current: CurrentSystem,
    /// `ModuleTimeoutSeconds`.
    pub timeout: Duration,
    /// `[update] module_delivery = "spool"`: where each payload file waits for its hash check
    /// before the module reads it; `None` streams as Mender does.
    pub spool: Option<super::spool::SpoolSettings>,
}

/// A [`PayloadSink`] that runs the payload's Update Module through `Download`.
///
/// Use: pass it to [`crate::artifact::read_artifact`]; on `Ok`, call [`ModuleSink::finish`];
/// on any error just drop it — dropping an unfinished download kills the module.
#[derive(Debug)]
pub struct ModuleSink {
    setup: ModuleSetup,
    run: Option<Running>,
    /// SHA-256 of the verified manifest the payload came under, recorded at `begin`.
    manifest: Option<Sha256Digest>,
}

#[derive(Debug)]
struct Running {
    module: UpdateModule,
    tree: ModuleTree,
    child: Option<Child>,
    _stdout: Option<std::thread::JoinHandle<Vec<u8>>>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
    with_sizes: bool,
    delivery: Option<Delivery>,
    open_stream: Option<File>,
    /// The end of the open stream's file, sent once its hash matched.
    held: Vec<u8>,
    deadline: Instant,
}

impl ModuleSink {
    /// A sink for one artifact.
    pub fn new(setup: ModuleSetup) -> Self {
        Self {
            setup,
            run: None,
            manifest: None,
        }
    }

    /// Ends the download after a fully verified read: signals the end of the streams and waits
    /// for the module. Returns the module, its tree and how it took the files. Takes the proof
    /// of the complete verified read of the artifact this sink was fed: the module sees the end
    /// of its download (and may go on to ArtifactInstall) only with it.
    pub fn finish(
        mut self,
        proof: &VerifiedArtifact,
    ) -> Result<(UpdateModule, ModuleTree, Delivery), DownloadError> {
        if self.manifest != Some(*proof.manifest_sha256()) {
            return Err(DownloadError::NotThisArtifact);
        }
        let Some(mut run) = self.run.take() else {
            return Err(DownloadError::NoPayloadType);
        };
        run.open_stream = None;
        if run.delivery != Some(Delivery::Files) {
            // The empty write: open and close stream-next (a zero-length read means the end).
            match run.open_for_writing(&run.tree.path().join("stream-next"))? {
                Some(end) => drop(end),
                None if run.delivery.is_none() => run.delivery = Some(Delivery::Files),
                None => return Err(DownloadError::DidNotFinish),
            }
        }
        run.wait()?;
        let delivery = run.delivery.unwrap_or(Delivery::Files);
        Ok((run.module.clone(), run.tree.clone(), delivery))
    }
}

impl Drop for ModuleSink {
    fn drop(&mut self) {
        if let Some(run) = &mut self.run {
            // Kill before the open stream is closed, so the module never sees a clean end.
            run.kill();
        }
    }
}

impl PayloadSink for ModuleSink {
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        self.manifest = Some(*manifest.raw_digest());
        let payload_type = header
            .payload_type()
            .name()
            .ok_or(DownloadError::NoPayloadType)?;
        let module = UpdateModule::locate(&self.setup.data_dir, payload_type, self.setup.timeout)
            .map_err(DownloadError::from)?;
        let tree = ModuleTree::prepare(&self.setup.tree_root, header, &self.setup.current)
            .map_err(DownloadError::from)?;
        let with_sizes = module
            .wants_file_sizes(&tree)
            .map_err(DownloadError::from)?;
        let io_err = |what: &str| {
            let what = what.to_owned();
            move |source| DownloadError::Io { what, source }
        };
        fs::create_dir_all(tree.path().join("streams")).map_err(io_err("create streams/"))?;
        nix::unistd::mkfifo(
            &tree.path().join("stream-next"),
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .map_err(|e| io_err("create stream-next")(io::Error::from(e)))?;
        let state = if with_sizes {
            ModuleState::DownloadWithFileSizes
        } else {
            ModuleState::Download
        };
        let mut command = Command::new(module.path());
        command
            .arg(state.as_str())
            .arg(tree.path())
            .current_dir(tree.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = process::spawn_retrying(&mut command).map_err(|source| {
            DownloadError::Module(ModuleError::Spawn {
                path: module.path().to_owned(),
                state: state.as_str(),
                source,
            })
        })?;
        let stdout = child.stdout.take().map(process::collect);
        let stderr = child.stderr.take().map(process::collect);
        self.run = Some(Running {
            deadline: Instant::now() + module.timeout(),
            module,
            tree,
            child: Some(child),
            _stdout: stdout,
            stderr,
            with_sizes,
            delivery: None,
            open_stream: None,
            held: Vec::new(),
        });
        Ok(())
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        let run = self.run.as_mut().ok_or(DownloadError::NoPayloadType)?;
        run.open_stream = None;
        run.held.clear();
        if run.delivery != Some(Delivery::Files) {
            let stream = run.tree.path().join("streams").join(&file.name);
            nix::unistd::mkfifo(&stream, Mode::S_IRUSR | Mode::S_IWUSR).map_err(|e| {
                DownloadError::Io {
                    what: format!("create streams/{}", file.name),
                    source: io::Error::from(e),
                }
            })?;
            match run.open_for_writing(&run.tree.path().join("stream-next"))? {
                Some(mut next) => {
                    run.delivery = Some(Delivery::Streams);
                    let line = if run.with_sizes {
                        format!("streams/{} {}\n", file.name, file.size)
                    } else {
                        format!("streams/{}\n", file.name)
                    };
                    next.write_all(line.as_bytes())
                        .map_err(|source| DownloadError::Io {
                            what: "write stream-next".to_owned(),
                            source,
                        })?;
                }
                None if run.delivery.is_none() => {
                    let _ = fs::remove_file(&stream);
                    run.delivery = Some(Delivery::Files);
                }
                None => return Err(DownloadError::ExitedEarly(file.name.to_string()).into()),
            }
        }
        if run.delivery == Some(Delivery::Streams) {
            let stream = run.tree.path().join("streams").join(&file.name);
            let mut out = run
                .open_for_writing(&stream)?
                .ok_or_else(|| DownloadError::ExitedEarly(file.name.to_string()))?;
            // The tail is held and the stream kept open until the hash is confirmed (see the
            // module docs).
            run.held = copy_holding_back(data, &mut out, HOLD_BACK)?;
            run.open_stream = Some(out);
        } else {
            let dir = run.tree.path().join("files");
            fs::create_dir_all(&dir)?;
            let mut out = File::create(dir.join(&file.name))?;
            io::copy(data, &mut out)?;
            out.sync_all()?;
        }
        Ok(())
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        if let Some(run) = &mut self.run {
            let held = std::mem::take(&mut run.held);
            if let Some(mut stream) = run.open_stream.take() {
                stream
                    .write_all(&held)
                    .map_err(|_| DownloadError::ExitedEarly(file.name().to_string()))?;
            }
        }
        Ok(())
    }
}

/// Copies `data` into `out` except its last `hold` bytes (all of it when shorter), which it
/// returns. At most `2 * hold` plus one read are buffered.
fn copy_holding_back(data: &mut dyn Read, out: &mut File, hold: usize) -> io::Result<Vec<u8>> {
    let mut pending: Vec<u8> = Vec::with_capacity(2 * hold);
    let mut buf = vec![0u8; hold.max(8192)];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => return Ok(pending),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        pending.extend_from_slice(buf.get(..n).unwrap_or_default());
        if pending.len() >= 2 * hold {
            let send = pending.len() - hold;
            out.write_all(pending.get(..send).unwrap_or_default())?;
            pending.drain(..send);
        }
    }
}

impl Running {
    /// Opens a FIFO for writing once the module opens it for reading. `None` when the module
    /// exited successfully without doing so.
    fn open_for_writing(&mut self, path: &Path) -> Result<Option<File>, DownloadError> {
        loop {
            match OpenOptions::new()
                .write(true)
                .custom_flags(OFlag::O_NONBLOCK.bits())
                .open(path)
            {
                Ok(file) => {
                    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).map_err(|e| {
                        DownloadError::Io {
                            what: format!("open {}", path.display()),
                            source: io::Error::from(e),
                        }
                    })?;
                    return Ok(Some(file));
                }
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENXIO as i32) => {}
                Err(source) => {
                    return Err(DownloadError::Io {
                        what: format!("open {}", path.display()),
                        source,
                    });
                }
            }
            // No reader yet: has the module finished?
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    if !status.success() {
                        return Err(self.failed(status.code().unwrap_or(-1)).into());
                    }
                    return Ok(None);
                }
            } else {
                return Ok(None);
            }
            if Instant::now() >= self.deadline {
                self.kill();
                return Err(DownloadError::TimedOut(self.module.timeout().as_secs()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait(&mut self) -> Result<(), DownloadError> {
        let Some(child) = &mut self.child else {
            return Ok(());
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    if status.success() {
                        return Ok(());
                    }
                    return Err(self.failed(status.code().unwrap_or(-1)).into());
                }
                Ok(None) if Instant::now() >= self.deadline => {
                    self.kill();
                    return Err(DownloadError::TimedOut(self.module.timeout().as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(source) => {
                    return Err(DownloadError::Io {
                        what: "wait for the Update Module".to_owned(),
                        source,
                    });
                }
            }
        }
    }

    fn failed(&mut self, code: i32) -> ModuleError {
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        ModuleError::Failed {
            state: if self.with_sizes {
                ModuleState::DownloadWithFileSizes.as_str()
            } else {
                ModuleState::Download.as_str()
            },
            code,
            stderr: process::tail(&stderr),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::kill_group(&mut child);
        }
        self.open_stream = None;
        self.held.clear();
    }
}
