//! Integration tests: the real `mender-artifact` and OpenSSL make every fixture at test time.

// Items are `pub` for use across this test crate's modules; nothing here is a public API.
#![allow(unreachable_pub)]
// Test helpers fail the test loudly on broken fixtures; the no-panic rule is for outside data
// reaching the product, not for the test harness.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accept;
mod agent;
mod attacks;
mod bootstrap;
mod channel;
mod cli;
mod daemon;
mod device;
mod differential;
mod download;
mod faults;
mod fixtures;
mod floors;
mod https;
mod install;
mod install_rejections;
mod key_list;
mod large;
mod modules;
mod policy;
mod resume;
mod robustness;
mod rootfs;
mod spool;
mod standin;
mod stops;
mod stream_tail;
mod streaming;
mod strictness;
#[cfg(feature = "pkcs11")]
mod tokens;
mod web;
