//! The install step: what happens to a verified payload (issue #3, in progress).
//!
//! So far: the Update Module v3 file tree and state calls ([`module`]) and the streaming
//! `Download` into a module ([`download`]). Streaming a payload into
//! a module, A/B rootfs writes and the `install`/`commit`/`rollback` commands build on these.

pub mod bootenv;
pub mod download;
pub mod grubenv;
pub mod module;
mod process;
pub mod readback;
pub mod resume;
pub mod rootfs;
pub mod scripts;
pub mod standalone;
pub mod state;
