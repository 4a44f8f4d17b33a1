//! `install`, `commit` and `rollback` run from the command line, in-process (spec §8.2,
//! "Standalone").
//!
//! `install` verifies and downloads in one pass, then runs `ArtifactInstall`. A module that
//! supports rollback leaves the install pending until `commit` or `rollback`; otherwise it is
//! committed at once. Empty-payload artifacts commit their provides without a module.
//! rootfs-image (A/B) and state scripts are not handled yet: such artifacts are refused before
//! anything runs.

use std::io::Read;
use std::time::Duration;

use thiserror::Error;

use super::bootenv::BootEnv;
use super::download::{DownloadError, ModuleSetup, ModuleSink};
use super::module::{
    CurrentSystem, ModuleError, ModuleState, ModuleTree, RebootNeed, UpdateModule,
};
use super::rootfs::{self, RootfsError, RootfsLayout, RootfsSink};
use super::scripts::{Action, RetryPolicy, ScriptError, StateScripts};
use crate::artifact::{
    self, CheckedHeader, PayloadFileInfo, PayloadSink, PayloadType, ReadError, ReadOptions,
    SinkError, VerifiedFile,
};
use crate::config::mender_conf::MenderPaths;
use crate::policy::DeviceFacts;
use crate::signature::{SignaturePolicy, VerifiedManifest};
use crate::state::provides::ArtifactClaims;
use crate::state::store::{PendingInstall, Store, StoreError};
use crate::stream::limits::Limits;

/// Everything an install needs to know about the device.
#[derive(Debug, Clone)]
pub struct InstallContext {
    /// Mender's directories.
    pub paths: MenderPaths,
    /// Signature policy.
    pub signature: SignaturePolicy,
    /// mender.conf verify-key entries that cannot be used (the others verify).
    pub broken_keys: Vec<crate::config::mender_conf::BrokenKey>,
    /// The device type (from the device_type file).
    pub device_type: String,
    /// `ModuleTimeoutSeconds`.
    pub module_timeout: Duration,
    /// `StateScriptTimeoutSeconds`.
    pub script_timeout: Duration,
    /// `StateScriptRetryIntervalSeconds` and `StateScriptRetryTimeoutSeconds`.
    pub script_retry: RetryPolicy,
    /// `RootfsPartA`/`RootfsPartB`, when both are configured.
    pub rootfs: Option<RootfsLayout>,
    /// The boot environment.
    pub bootenv: BootEnv,
    /// Size caps.
    pub limits: Limits,
    /// Told of each phase as it starts (the daemon's progress events and systemd status).
    pub observer: Observer,
}

/// The phases an operation reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading, verifying and streaming the artifact to its installer.
    Download,
    /// Activating the verified update.
    ArtifactInstall,
    /// Making it permanent.
    ArtifactCommit,
    /// Undoing it.
    ArtifactRollback,
}

impl Phase {
    /// The name used in events and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Download => "Download",
            Self::ArtifactInstall => "ArtifactInstall",
            Self::ArtifactCommit => "ArtifactCommit",
            Self::ArtifactRollback => "ArtifactRollback",
        }
    }
}

/// A callback for [`Phase`] changes; the default does nothing.
#[derive(Clone, Default)]
pub struct Observer(Option<std::sync::Arc<dyn Fn(Phase) + Send + Sync>>);

impl Observer {
    /// Calls `f` for every phase.
    pub fn new(f: impl Fn(Phase) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    fn phase(&self, phase: Phase) {
        tracing::info!(phase = phase.name(), "phase");
        if let Some(f) = &self.0 {
            f(phase);
        }
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(..)"
        } else {
            "Observer(none)"
        })
    }
}

/// How an install ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// Installed and committed.
    Committed {
        /// Whether the module wants a reboot.
        reboot: RebootNeed,
    },
    /// Installed; waits for `commit` or `rollback`.
    Pending {
        /// Whether the module wants a reboot.
        reboot: RebootNeed,
    },
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum InstallError {
    /// An install is already waiting for commit or rollback.
    #[error("update already in progress ({0}); commit or roll back first")]
    Busy(String),
    /// Reading or verifying the artifact failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The Download into the module failed.
    #[error(transparent)]
    Download(#[from] DownloadError),
    /// A module state failed.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The persistent state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A state script failed.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// A rootfs-image without `RootfsPartA`/`RootfsPartB`.
    #[error("rootfs-image updates need RootfsPartA and RootfsPartB in mender.conf")]
    NoRootfsLayout,
    /// The A/B installer failed.
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    /// `rollback` on a module without rollback support.
    #[error("the installed update ({0}) does not support rollback")]
    NoRollback(String),
}

/// What `commit`/`rollback` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// There was no install waiting.
    NothingPending,
    /// The named artifact was committed or rolled back.
    Done(String),
}

/// Verifies `input` and installs it.
pub fn install<R: Read>(input: R, ctx: &InstallContext) -> Result<InstallOutcome, InstallError> {
    let store = Store::new(&ctx.paths.datastore_dir);
    let _lock = store.lock()?;
    if let Some(pending) = store.pending()? {
        return Err(InstallError::Busy(pending.claims.artifact_name));
    }
    let provides = store.provides()?;
    let options = ReadOptions {
        signature: ctx.signature.clone(),
        device: DeviceFacts {
            device_type: Some(ctx.device_type.clone()),
            provides: Some(provides.clone()),
        },
        limits: ctx.limits.clone(),
    };
    let setup = ModuleSetup {
        data_dir: ctx.paths.data_dir.clone(),
        tree_root: ctx
            .paths
            .datastore_dir
            .join("modules/v3/payloads/0000/tree"),
        current: CurrentSystem {
            artifact_name: provides
                .artifact_name
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            artifact_group: provides.artifact_group.clone().unwrap_or_default(),
            device_type: ctx.device_type.clone(),
        },
        timeout: ctx.module_timeout,
    };
    let mut sink = Dispatch {
        modules: Some(ModuleSink::new(setup.clone())),
        rootfs: ctx
            .rootfs
            .clone()
            .map(|layout| RootfsSink::new(layout, ctx.bootenv.clone())),
        kind: Kind::Unknown,
        scripts: scripts_of(ctx),
        downloading: false,
    };
    ctx.observer.phase(Phase::Download);
    let verified = match artifact::read_artifact(input, &options, &mut sink) {
        Ok(verified) => verified,
        Err(e) => {
            // The module was downloading: stop it, then the error path (issue #3, item 9).
            drop(sink.modules.take());
            sink.fail_download();
            let tree = ModuleTree::existing(&setup.tree_root);
            if let Kind::Module(payload_type) = &sink.kind {
                let located = UpdateModule::locate(&setup.data_dir, payload_type, setup.timeout);
                if let (Ok(module), true) = (located, setup.tree_root.is_dir()) {
                    let _ = module.call(ModuleState::ArtifactFailure, &tree);
                    let _ = module.call(ModuleState::Cleanup, &tree);
                }
            }
            tree.discard();
            return Err(e.into());
        }
    };
    match &verified.trust() {
        crate::signature::Trust::Verified { key, scheme } => tracing::info!(
            artifact = %verified.header().artifact_name(),
            key = %key,
            scheme = scheme.name(),
            "artifact verified"
        ),
        crate::signature::Trust::DangerUnverified { .. } => tracing::warn!(
            artifact = %verified.header().artifact_name(),
            "artifact checksums verified, but no signature was required"
        ),
    }
    let header = verified.header();
    if sink.kind == Kind::Rootfs
        && let Some(rootfs_sink) = sink.rootfs.take()
    {
        sink.finish_download()?;
        return install_rootfs(ctx, &store, &verified, &rootfs_sink);
    }
    let Some(modules) = sink
        .modules
        .take()
        .filter(|_| matches!(sink.kind, Kind::Module(_)))
    else {
        // An empty payload: nothing to run, the provides change at once (spec §5.6).
        store.save_provides(&provides.after_commit(header))?;
        return Ok(InstallOutcome::Committed {
            reboot: RebootNeed::No,
        });
    };
    let finished = modules.finish(&verified);
    if finished.is_err() {
        sink.fail_download();
    }
    let (module, tree, _) = match finished {
        Ok(done) => done,
        Err(e) => {
            let located = header
                .payload_type()
                .name()
                .map(|t| UpdateModule::locate(&setup.data_dir, t, setup.timeout));
            let tree = ModuleTree::existing(&setup.tree_root);
            if let Some(Ok(module)) = located {
                let _ = module.call(ModuleState::Cleanup, &tree);
            }
            tree.discard();
            return Err(e.into());
        }
    };
    if let Err(e) = sink.finish_download() {
        cleanup_failed(&module, &tree);
        return Err(e);
    }
    let scripts = scripts_of(ctx);
    if let Err(e) = scripts.install_artifact_scripts(header.scripts()) {
        cleanup_failed(&module, &tree);
        return Err(e.into());
    }
    // The install is recorded before anything changes the system, so a power cut in the
    // middle leaves a record that commit or rollback can act on (SupportsRollback is asked
    // first for that, as the Go client does).
    let rollback = match module.supports_rollback(&tree) {
        Ok(rollback) => rollback,
        Err(e) => {
            cleanup_failed(&module, &tree);
            return Err(e.into());
        }
    };
    let mut pending = PendingInstall {
        claims: ArtifactClaims::of(header),
        payload_type: header.payload_type().name().unwrap_or_default().to_owned(),
        tree: tree.path().to_owned(),
        reboot: reboot_word(RebootNeed::No).to_owned(),
        supports_rollback: rollback,
        rootfs: None,
        boot_id: crate::state::store::boot_id(),
    };
    store.save_pending(&pending)?;
    ctx.observer.phase(Phase::ArtifactInstall);
    let run = || -> Result<RebootNeed, InstallError> {
        scripts.around("ArtifactInstall", || {
            module
                .call(ModuleState::ArtifactInstall, &tree)
                .map_err(InstallError::from)
        })?;
        Ok(module.needs_reboot(&tree)?)
    };
    let reboot = match run() {
        Ok(reboot) => reboot,
        Err(e) => {
            fail(&module, &tree, &scripts);
            let _ = store.clear_pending();
            return Err(e);
        }
    };
    pending.reboot = reboot_word(reboot).to_owned();
    if rollback {
        store.save_pending(&pending)?;
        return Ok(InstallOutcome::Pending { reboot });
    }
    finish_commit(&module, &tree, &store, &pending, &scripts)?;
    Ok(InstallOutcome::Committed { reboot })
}

/// What is installed and what waits for commit or rollback, as the `status` command and the
/// daemon's `GET /v1/status` report it.
pub fn status(paths: &MenderPaths) -> Result<serde_json::Value, InstallError> {
    let store = Store::new(&paths.datastore_dir);
    let provides = store.provides()?;
    let pending = store.pending()?;
    Ok(serde_json::json!({
        "artifact_name": provides.artifact_name,
        "artifact_group": provides.artifact_group,
        "pending": pending.as_ref().map(|p| serde_json::json!({
            "artifact_name": p.claims.artifact_name,
            "payload_type": p.payload_type,
            "reboot": p.reboot,
            "supports_rollback": p.supports_rollback,
        })),
    }))
}

/// `commit`: runs `ArtifactCommit` and `Cleanup`, then records the new provides.
pub fn commit(ctx: &InstallContext) -> Result<Finished, InstallError> {
    let store = Store::new(&ctx.paths.datastore_dir);
    let _lock = store.lock()?;
    let Some(pending) = store.pending()? else {
        return Ok(Finished::NothingPending);
    };
    ctx.observer.phase(Phase::ArtifactCommit);
    if let Some(slots) = &pending.rootfs {
        let layout = ctx.rootfs.as_ref().ok_or(InstallError::NoRootfsLayout)?;
        scripts_of(ctx).around("ArtifactCommit", || {
            rootfs::commit(layout, &ctx.bootenv, slots).map_err(InstallError::from)
        })?;
        store.commit(&pending)?;
        return Ok(Finished::Done(pending.claims.artifact_name));
    }
    let (module, tree) = module_of(ctx, &pending)?;
    finish_commit(&module, &tree, &store, &pending, &scripts_of(ctx))?;
    Ok(Finished::Done(pending.claims.artifact_name))
}

/// `rollback`: runs `ArtifactRollback`, `ArtifactFailure` and `Cleanup`; the provides stay.
pub fn rollback(ctx: &InstallContext) -> Result<Finished, InstallError> {
    let store = Store::new(&ctx.paths.datastore_dir);
    let _lock = store.lock()?;
    let Some(pending) = store.pending()? else {
        return Ok(Finished::NothingPending);
    };
    if !pending.supports_rollback {
        return Err(InstallError::NoRollback(pending.claims.artifact_name));
    }
    ctx.observer.phase(Phase::ArtifactRollback);
    if let Some(slots) = &pending.rootfs {
        let scripts = scripts_of(ctx);
        scripts.around("ArtifactRollback", || {
            rootfs::rollback(&ctx.bootenv, slots).map_err(InstallError::from)
        })?;
        let _ = scripts.around("ArtifactFailure", || Ok::<(), InstallError>(()));
        store.clear_pending()?;
        return Ok(Finished::Done(pending.claims.artifact_name));
    }
    let (module, tree) = module_of(ctx, &pending)?;
    let scripts = scripts_of(ctx);
    scripts.around("ArtifactRollback", || {
        module
            .call(ModuleState::ArtifactRollback, &tree)
            .map_err(InstallError::from)
    })?;
    let _ = scripts.around("ArtifactFailure", || {
        module
            .call(ModuleState::ArtifactFailure, &tree)
            .map_err(InstallError::from)
    });
    module.call(ModuleState::Cleanup, &tree)?;
    store.clear_pending()?;
    Ok(Finished::Done(pending.claims.artifact_name))
}

/// `ArtifactInstall` for a verified A/B payload: switch the boot variables (with the state
/// scripts around it) and leave the install pending for its reboot and commit.
fn install_rootfs(
    ctx: &InstallContext,
    store: &Store,
    verified: &artifact::VerifiedArtifact,
    sink: &RootfsSink,
) -> Result<InstallOutcome, InstallError> {
    let header = verified.header();
    let scripts = scripts_of(ctx);
    scripts.install_artifact_scripts(header.scripts())?;
    let slots = sink.slots().cloned().ok_or(InstallError::NoRootfsLayout)?;
    // Recorded before the boot variables change (see `install`).
    store.save_pending(&PendingInstall {
        claims: ArtifactClaims::of(header),
        payload_type: "rootfs-image".to_owned(),
        tree: std::path::PathBuf::new(),
        reboot: reboot_word(RebootNeed::Automatic).to_owned(),
        supports_rollback: true,
        rootfs: Some(slots.clone()),
        boot_id: crate::state::store::boot_id(),
    })?;
    ctx.observer.phase(Phase::ArtifactInstall);
    if let Err(e) = scripts.around("ArtifactInstall", || {
        sink.activate(verified).map_err(InstallError::from)
    }) {
        // A boot-environment tool that failed may still have written the switch (killed after
        // its write, before its fsync or exit). Point the bootloader back before calling the
        // install failed; if even that fails, the pending record stays, so the next start
        // judges the device instead of leaving an unrecorded switch behind.
        if let Err(undo) = rootfs::rollback(&ctx.bootenv, &slots) {
            tracing::error!(
                "the boot switch failed and could not be undone ({undo}); the install stays \
                 pending for the next start to judge"
            );
            return Err(e);
        }
        let _ = scripts.around("ArtifactFailure", || Ok::<(), InstallError>(()));
        let _ = store.clear_pending();
        return Err(e);
    }
    Ok(InstallOutcome::Pending {
        reboot: RebootNeed::Automatic,
    })
}

/// The module and tree of a pending module install.
fn module_of(
    ctx: &InstallContext,
    pending: &PendingInstall,
) -> Result<(UpdateModule, ModuleTree), InstallError> {
    let module = UpdateModule::locate(
        &ctx.paths.data_dir,
        &pending.payload_type,
        ctx.module_timeout,
    )?;
    Ok((module, ModuleTree::existing(&pending.tree)))
}

fn scripts_of(ctx: &InstallContext) -> StateScripts {
    StateScripts::new(
        &ctx.paths.datastore_dir,
        &ctx.paths.conf_dir,
        ctx.script_timeout,
        ctx.script_retry,
    )
}

fn finish_commit(
    module: &UpdateModule,
    tree: &ModuleTree,
    store: &Store,
    pending: &PendingInstall,
    scripts: &StateScripts,
) -> Result<(), InstallError> {
    let committed = scripts.around("ArtifactCommit", || {
        module
            .call(ModuleState::ArtifactCommit, tree)
            .map_err(InstallError::from)
    });
    if let Err(e) = committed {
        fail(module, tree, scripts);
        let _ = store.clear_pending();
        return Err(e);
    }
    store.commit(pending)?;
    module.call(ModuleState::Cleanup, tree)?;
    Ok(())
}

/// The error path after `ArtifactInstall` ran (spec §8.2): roll back if the module can, then
/// `ArtifactFailure` and `Cleanup`. Their own failures are secondary to the one reported.
fn fail(module: &UpdateModule, tree: &ModuleTree, scripts: &StateScripts) {
    if module.supports_rollback(tree).unwrap_or(false) {
        let _ = scripts.around("ArtifactRollback", || {
            module
                .call(ModuleState::ArtifactRollback, tree)
                .map_err(InstallError::from)
        });
    }
    let _ = scripts.around("ArtifactFailure", || {
        module
            .call(ModuleState::ArtifactFailure, tree)
            .map_err(InstallError::from)
    });
    cleanup_failed(module, tree);
}

/// The last step of every failed module install: the protocol's `Cleanup`, then the payload
/// tree is removed, so nothing of an artifact that did not install stays on disk.
fn cleanup_failed(module: &UpdateModule, tree: &ModuleTree) {
    let _ = module.call(ModuleState::Cleanup, tree);
    tree.discard();
}

fn reboot_word(reboot: RebootNeed) -> &'static str {
    match reboot {
        RebootNeed::No => "No",
        RebootNeed::Yes => "Yes",
        RebootNeed::Automatic => "Automatic",
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Unknown,
    Empty,
    Rootfs,
    Module(String),
}

/// Routes the payload by its verified type: empty payloads need no consumer, rootfs-image goes
/// to the A/B installer, everything else to its Update Module. The device's `Download_Enter`
/// scripts run before the first payload byte moves (spec §8.2).
struct Dispatch {
    modules: Option<ModuleSink>,
    rootfs: Option<RootfsSink>,
    kind: Kind,
    scripts: StateScripts,
    /// Download_Enter started: Download_Leave or Download_Error must follow.
    downloading: bool,
}

impl Dispatch {
    /// Ends a complete download with the Download_Leave scripts; if one fails, the Error
    /// scripts run and the install stops.
    fn finish_download(&mut self) -> Result<(), InstallError> {
        if !std::mem::take(&mut self.downloading) {
            return Ok(());
        }
        let left = self.scripts.run("Download", Action::Leave);
        if left.is_err() {
            let _ = self.scripts.run("Download", Action::Error);
        }
        Ok(left?)
    }

    /// Ends a failed download with the Download_Error scripts (their failures only logged).
    fn fail_download(&mut self) {
        if std::mem::take(&mut self.downloading) {
            let _ = self.scripts.run("Download", Action::Error);
        }
    }
}

impl Dispatch {
    fn begin_payload(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        match &header.payload_type() {
            PayloadType::Named(t) if t == "rootfs-image" => {
                self.kind = Kind::Rootfs;
                match &mut self.rootfs {
                    Some(r) => r.begin(header, manifest),
                    None => Err(Box::new(InstallError::NoRootfsLayout)),
                }
            }
            PayloadType::Named(t) => {
                self.kind = Kind::Module(t.clone());
                match &mut self.modules {
                    Some(m) => m.begin(header, manifest),
                    None => Err(Box::new(DownloadError::NoPayloadType)),
                }
            }
            PayloadType::Empty => Ok(()),
        }
    }
}

impl PayloadSink for Dispatch {
    fn begin(
        &mut self,
        header: &CheckedHeader,
        manifest: &VerifiedManifest,
    ) -> Result<(), SinkError> {
        match &header.payload_type() {
            PayloadType::Empty => {
                self.kind = Kind::Empty;
                Ok(())
            }
            PayloadType::Named(_) => {
                self.downloading = true;
                self.scripts.run("Download", Action::Enter)?;
                self.begin_payload(header, manifest)
            }
        }
    }

    fn file(&mut self, file: &PayloadFileInfo, data: &mut dyn Read) -> Result<(), SinkError> {
        if let (Kind::Rootfs, Some(r)) = (&self.kind, &mut self.rootfs) {
            return r.file(file, data);
        }
        match (&self.kind, &mut self.modules) {
            (Kind::Module(_), Some(m)) => m.file(file, data),
            // Unreachable for a verified empty payload (it lists no files), refused regardless.
            _ => Err(Box::new(DownloadError::NoPayloadType)),
        }
    }

    fn file_verified(&mut self, file: &VerifiedFile) -> Result<(), SinkError> {
        if let (Kind::Rootfs, Some(r)) = (&self.kind, &mut self.rootfs) {
            return r.file_verified(file);
        }
        match (&self.kind, &mut self.modules) {
            (Kind::Module(_), Some(m)) => m.file_verified(file),
            _ => Ok(()),
        }
    }
}
