//! artifact-gate: the on-device gate that decides whether a Mender Artifact may touch the system.
//!
//! Trust model: the device trusts a set of public keys (files named in `mender.conf` or on the
//! command line). An artifact is accepted only if one of them verifies the signature over its
//! `manifest`, and every other byte that matters — `version`, the header, each payload file —
//! hashes to the value that signed manifest lists. Everything is checked in one streaming pass,
//! in constant memory; nothing from the artifact is used before the check that vouches for it.
//!
//! The modules, in the order an artifact's bytes meet them (`docs/architecture.md` has the
//! full map, with the check each one enforces):
//!
//! 1. [`fetch`]: the HTTPS client (trusted certificates, resumable downloads);
//!    [`stream`]: where bytes come from (file, stdin, HTTPS), the caps on them, exact-length
//!    members and the hash worker.
//! 2. [`artifact`]: the outer tar walker, the manifest, names, header and payload checks; it
//!    mints [`artifact::CheckedHeader`], [`artifact::VerifiedFile`] and
//!    [`artifact::VerifiedArtifact`].
//! 3. [`signature`]: `manifest.sig` against the trusted keys → [`signature::VerifiedManifest`];
//!    [`keys`]: where those keys come from (`pkcs11:` URIs, tokens, TPMs).
//! 4. [`policy`]: does the artifact fit this device (device type, depends).
//! 5. [`install`]: Update Modules and A/B partitions, activated only with the
//!    `VerifiedArtifact` of the read that fed them; commit, rollback, the post-reboot check.
//! 6. [`state`]: what the device remembers (provides, the pending install), written
//!    crash-safely.
//!
//! Around them: [`config`] (mender.conf, artifact-gate.toml, what a command needs from them),
//! [`error`] (how failures are classified and told), [`daemon`] (the local API and its client)
//! and [`cli`] (the command line; nothing in the layers above depends on it).
//!
//! Parsing, cryptography and policy are synchronous and free of side effects (they may start
//! threads to inflate and hash); files, processes, sockets and tokio live in `install`, `state`,
//! `config`, `daemon` and `cli`.

// The verifier's layers, in data-path order.
pub mod fetch;

pub mod stream;

pub mod artifact;

pub mod signature;

pub mod keys;

pub mod policy;

pub mod install;

pub mod state;

// Around them.
pub mod channel;

pub mod server;

pub mod config;

pub mod error;

pub mod daemon;

pub mod cli;

/// Entry points into internal parsers for coverage-guided fuzzing (`fuzz/`). `cargo fuzz` builds
/// with `--cfg fuzzing`; nothing here exists in a normal build.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use crate::stream::limits::Limits;

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
