//! The install step: what happens to a verified payload. The Update Module v3 file tree and
//! state calls ([`module`]), the streaming `Download` into a module ([`download`]), A/B rootfs
//! writes ([`rootfs`]), the `install`/`commit`/`rollback` flow ([`flow`]), the post-reboot
//! check ([`resume`]), the first-start bootstrap artifact ([`bootstrap`]), the verified spool
//! ([`spool`]), and Mender 5's `--stop-before` and `resume` ([`stops`], [`staged`]).

pub mod bootenv;
pub mod bootstrap;
pub mod context;
pub mod download;
pub mod flow;
pub mod grubenv;
pub mod installer;
pub mod kind;
pub mod module;
pub(crate) mod process;
pub mod readback;
pub mod resume;
pub mod rootfs;
pub mod scripts;
pub mod spool;
pub mod staged;
pub mod stops;
