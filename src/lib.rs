//! artifact-gate: the on-device gate that decides whether a Mender Artifact may touch the system.
//!
//! Trust model: the device trusts a set of public keys (files named in `mender.conf` or on the
//! command line). An artifact is accepted only if one of them verifies the signature over its
//! `manifest`, and every other byte that matters — `version`, the header, each payload file —
//! hashes to the value that signed manifest lists. Everything is checked in one streaming pass,
//! in constant memory; nothing from the artifact is used before the check that vouches for it.
//!
//! Data path, one module per step:
//! `io` (source, limits) → [`artifact`] (outer tar state machine) → [`signature`] (manifest +
//! `manifest.sig` → [`signature::VerifiedManifest`]) → [`manifest`] (strict parse) →
//! `artifact::header` (hash, then parse → [`artifact::CheckedHeader`]) → [`policy`] (device
//! fit) → `artifact::payload` (checksummed entries → [`artifact::PayloadSink`]).
//!
//! The install step sits on the sink: [`install`] streams into Update Modules or the inactive
//! partition, and activates only after [`artifact::read_artifact`] returned `Ok`.
//!
//! Each check mints a proof that only it can build (private fields, `compile_fail` doctests):
//! [`signature::VerifiedManifest`] (the signature), [`names::PayloadName`] and
//! [`names::ScriptName`] (the name rules), [`artifact::CheckedHeader`] (the header's hash and
//! parse), [`artifact::VerifiedFile`] (one file's hash) and [`artifact::VerifiedArtifact`] (the
//! whole read). Activation — [`install::rootfs::RootfsSink::activate`] and
//! [`install::download::ModuleSink::finish`] — takes a `VerifiedArtifact` and refuses one whose
//! manifest is not the one the installer was fed.
//!
//! Parsing, cryptography and policy are synchronous and free of side effects; I/O lives at the
//! edges: [`config`] (mender.conf, key files), [`source`] (files, stdin, HTTPS), [`install`]
//! (modules, partitions, boot environment, state) and [`cli`].

pub mod artifact;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod error;
pub mod escape;
pub mod install;
pub mod io;
pub mod limits;
pub mod manifest;
pub mod names;
pub mod persist;
pub mod policy;
pub mod progress;
pub mod provides;
pub mod setup;
pub mod signature;
pub mod source;

/// Entry points into internal parsers for coverage-guided fuzzing (`fuzz/`). `cargo fuzz` builds
/// with `--cfg fuzzing`; nothing here exists in a normal build.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::limits::Limits;

    /// The header parser, as it runs on header bytes whose hash matched the manifest.
    pub fn header(entry_name: &str, bytes: &[u8]) {
        let _ = crate::artifact::header::CheckedHeader::parse_verified(
            entry_name,
            bytes,
            &Limits::default(),
        );
    }

    /// The daemon's JSON install request.
    pub fn install_request(bytes: &[u8]) {
        let _ = crate::daemon::api::parse_install_request(bytes);
    }
}
