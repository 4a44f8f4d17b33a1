//! One installer per payload kind: an Update Module ([`module`]), the built-in A/B rootfs
//! installer ([`rootfs`]) and the empty payload ([`empty`]), which only changes provides.

pub mod empty;
pub mod module;
pub mod rootfs;

use super::context::{InstallContext, InstallError};
use super::download::ModuleSetup;
use super::installer::{Installed, Installer};
use super::module::{ModuleTree, UpdateModule};
use crate::artifact::{PayloadType, SinkError};
use crate::state::store::PendingInstall;

/// The payload type the built-in A/B installer takes.
pub const ROOTFS_IMAGE: &str = "rootfs-image";

/// The installer for a verified header's payload type.
pub(super) fn installer_for(
    payload_type: &PayloadType,
    ctx: &InstallContext,
    setup: &ModuleSetup,
) -> Result<Box<dyn Installer>, SinkError> {
    Ok(match payload_type {
        PayloadType::Empty => Box::new(empty::EmptyInstaller),
        PayloadType::Named(t) if t == ROOTFS_IMAGE => {
            let layout = ctx
                .rootfs
                .clone()
                .ok_or_else(|| Box::new(InstallError::NoRootfsLayout))?;
            Box::new(rootfs::RootfsInstaller::new(layout, ctx.bootenv.clone()))
        }
        PayloadType::Named(_) => Box::new(module::ModuleInstaller::new(setup.clone())),
    })
}

/// The installed update a pending record describes.
pub(super) fn installed_for(
    ctx: &InstallContext,
    pending: &PendingInstall,
) -> Result<Box<dyn Installed>, InstallError> {
    if let Some(slots) = &pending.rootfs {
        return Ok(Box::new(rootfs::RootfsInstall {
            layout: ctx.rootfs.clone(),
            env: ctx.bootenv.clone(),
            slots: slots.clone(),
        }));
    }
    let module = UpdateModule::locate(
        &ctx.paths.data_dir,
        &pending.payload_type,
        ctx.module_timeout,
    )?;
    Ok(Box::new(module::ModuleInstall {
        module,
        tree: ModuleTree::existing(&pending.tree),
        reboot: pending.reboot,
    }))
}
