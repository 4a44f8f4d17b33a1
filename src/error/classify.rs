//! The table: every error type of the verifier and the installer, its [`Class`] and its stable
//! code. `docs/api.md` lists the same codes as the API's contract; a code, once published, is
//! never reused for another meaning.

use std::io;

use super::{Class, Classify, Interruption};
use crate::artifact::header::HeaderError;
use crate::artifact::manifest::ManifestError;
use crate::artifact::version::VersionError;
use crate::artifact::{ReadError, Rejection, SinkError};
use crate::config::mender_conf::ConfigError;
use crate::config::settings::DaemonConfigError;
use crate::fetch::FetchError;
use crate::install::context::InstallError;
use crate::install::download::DownloadError;
use crate::install::module::ModuleError;
use crate::install::rootfs::RootfsError;
use crate::install::scripts::ScriptError;
use crate::install::spool::SpoolError;
use crate::policy::PolicyError;
use crate::server::ServerError;
use crate::signature::{ManifestRejection, SignatureError};
use crate::state::store::StoreError;
use crate::stream::source::SourceError;

/// The class and code of an I/O error met outside the artifact's own bytes (the input, a
/// partition, a module's stream).
pub fn io_class(e: &io::Error) -> (Class, &'static str) {
    if e.get_ref().is_some_and(|inner| inner.is::<Interruption>()) {
        return (Class::Interrupted, "interrupted");
    }
    if let Some(fetch) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<FetchError>())
    {
        return (fetch.class(), fetch.code());
    }
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => (Class::Failed, "no_space"),
        io::ErrorKind::TimedOut
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::Interrupted => (Class::Interrupted, "connection_lost"),
        io::ErrorKind::PermissionDenied => (Class::Failed, "permission_denied"),
        _ => (Class::Failed, "io_error"),
    }
}

impl Classify for ReadError {
    fn class(&self) -> Class {
        match self {
            Self::Rejected(r) => r.class(),
            Self::Io(e) => io_class(e).0,
            Self::Sink(e) => sink_class(e).0,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Rejected(r) => r.code(),
            Self::Io(e) => io_class(e).1,
            Self::Sink(e) => sink_class(e).1,
        }
    }
}

/// A payload consumer's error comes back boxed through the reader; the installer's own types
/// are recovered here.
fn sink_class(e: &SinkError) -> (Class, &'static str) {
    let pair = |c: &dyn Classify| (c.class(), c.code());
    if let Some(e) = e.downcast_ref::<InstallError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<DownloadError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<RootfsError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<ScriptError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<ModuleError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<StoreError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<SpoolError>() {
        return pair(e);
    }
    if let Some(e) = e.downcast_ref::<io::Error>() {
        return io_class(e);
    }
    (Class::Failed, "install_failed")
}

impl Classify for Rejection {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnexpectedEntry { .. } => "unexpected_entry",
            Self::MissingEntry(_) | Self::MissingHeader(_) => "missing_entry",
            Self::EmptyEntry { .. } => "empty_entry",
            Self::StreamCut(_) | Self::Truncated { .. } => "truncated",
            Self::DuplicateEntry(_) => "duplicate_entry",
            Self::NotInspected { .. } => "manifest_mismatch",
            Self::Augmented(_) => "augmented_artifact",
            Self::SecondPayload(_) => "second_payload",
            Self::NotRegular { .. } => "not_a_regular_file",
            Self::BadEntryName { .. } => "bad_entry_name",
            Self::BadPayloadName { .. } => "bad_payload_name",
            Self::SuffixMismatch { .. } => "compression_mismatch",
            Self::EntryTooLarge { .. } => "entry_too_large",
            Self::ArtifactTooLarge(_) => "artifact_too_large",
            Self::InflateRatio { .. } => "inflate_ratio",
            Self::Malformed { .. } | Self::BadEnd { .. } => "malformed_tar",
            Self::BadPax { .. } => "bad_pax_header",
            Self::Manifest(m) => m.code(),
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::HeaderNotCovered { .. } => "header_not_covered",
            Self::Version(v) => v.code(),
            Self::Header(h) => h.code(),
            Self::Policy(p) => p.code(),
            Self::UnlistedFile(_) => "unlisted_file",
            Self::DuplicateFile(_) => "duplicate_file",
            Self::MissingFiles(_) => "missing_files",
            Self::PayloadShape { .. } => "payload_shape",
        }
    }
}

impl Classify for ManifestRejection {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Signature(s) => s.code(),
            Self::Manifest(m) => m.code(),
        }
    }
}

impl Classify for SignatureError {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unsigned => "signature_missing",
            Self::Empty | Self::BadBase64(_) => "signature_malformed",
            Self::NoKeyVerified(_) => "signature_invalid",
            Self::Revoked { .. } => "key_revoked",
        }
    }
}

impl Classify for ManifestError {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        "manifest_invalid"
    }
}

impl Classify for VersionError {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "version_unsupported",
            Self::Malformed(_) | Self::NotMender(_) => "version_invalid",
        }
    }
}

impl Classify for HeaderError {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        "header_invalid"
    }
}

impl Classify for PolicyError {
    fn class(&self) -> Class {
        Class::Rejected
    }

    fn code(&self) -> &'static str {
        match self {
            Self::IncompatibleDevice { .. } => "device_type_mismatch",
            Self::Depends(_) => "depends_mismatch",
            Self::OutOfScope { .. } => "key_out_of_scope",
            Self::Downgrade { .. } => "downgrade",
            Self::SecurityDowngrade { .. } => "security_downgrade",
            Self::SecurityStep { .. } => "security_step",
            Self::NoVersion { .. } => "version_missing",
            Self::UnreadableVersion { .. } => "version_invalid",
        }
    }
}

impl Classify for InstallError {
    fn class(&self) -> Class {
        match self {
            Self::Read(e) => e.class(),
            Self::Download(e) => e.class(),
            Self::Module(e) => e.class(),
            Self::Script(e) => e.class(),
            Self::Rootfs(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::NoRootfsLayout => Class::Config,
            Self::Busy(_) | Self::NoRollback(_) => Class::Failed,
            Self::Stopped(_) => Class::Interrupted,
            Self::Floor(_) | Self::FloorNotRaised { .. } => Class::Failed,
            Self::StoppedAt { .. } => Class::Config,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Read(e) => e.code(),
            Self::Download(e) => e.code(),
            Self::Module(e) => e.code(),
            Self::Script(e) => e.code(),
            Self::Rootfs(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::NoRootfsLayout => "no_rootfs_layout",
            Self::Busy(_) => "update_in_progress",
            Self::NoRollback(_) => "no_rollback",
            Self::Stopped(_) => "deployment_aborted",
            Self::Floor(_) => "floor_unavailable",
            Self::FloorNotRaised { .. } => "floor_not_raised",
            Self::StoppedAt { .. } => "update_stopped",
        }
    }
}

impl Classify for DownloadError {
    fn class(&self) -> Class {
        match self {
            Self::Module(e) => e.class(),
            Self::Io { source, .. } => io_class(source).0,
            _ => Class::Failed,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Module(e) => e.code(),
            Self::Io { source, .. } => io_class(source).1,
            Self::NoPayloadType | Self::ExitedEarly(_) | Self::DidNotFinish => "module_failed",
            Self::NotThisArtifact => "not_this_artifact",
            Self::TimedOut(_) => "module_timeout",
        }
    }
}

impl Classify for ModuleError {
    fn class(&self) -> Class {
        Class::Failed
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "module_not_found",
            Self::TimedOut { .. } => "module_timeout",
            Self::Protocol { .. } => "module_protocol",
            Self::Spawn { .. } | Self::Failed { .. } | Self::Tree { .. } => "module_failed",
        }
    }
}

impl Classify for ScriptError {
    fn class(&self) -> Class {
        Class::Failed
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TimedOut { .. } => "script_timeout",
            Self::Failed { .. } | Self::Io { .. } => "script_failed",
        }
    }
}

impl Classify for SpoolError {
    fn class(&self) -> Class {
        match self {
            Self::Io { source, .. } => io_class(source).0,
            // The artifact may be fine: the device's spool is too small or too full for it.
            _ => Class::Failed,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "spool_too_small",
            Self::NoSpace { .. } => "spool_no_space",
            Self::Changed(_) => "spool_changed",
            Self::Io { source, .. } => io_class(source).1,
        }
    }
}

impl Classify for RootfsError {
    fn class(&self) -> Class {
        match self {
            Self::TooLarge { .. } | Self::SecondFile => Class::Rejected,
            Self::NoNumber(_) | Self::WrongPartition { .. } => Class::Config,
            Self::Io { source, .. } => io_class(source).0,
            _ => Class::Failed,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "payload_too_large",
            Self::SecondFile => "payload_shape",
            Self::NoNumber(_) | Self::WrongPartition { .. } => "rootfs_layout",
            Self::UnknownActive { .. } => "rootfs_unknown_active",
            Self::UpgradePending => "update_in_progress",
            Self::NotThisArtifact => "not_this_artifact",
            Self::ReadBack { .. } => "readback_mismatch",
            Self::Reverted => "rootfs_reverted",
            Self::Io { source, .. } => io_class(source).1,
            Self::BootEnv(_) => "bootenv_failed",
        }
    }
}

impl Classify for StoreError {
    fn class(&self) -> Class {
        Class::Failed
    }

    fn code(&self) -> &'static str {
        "state_error"
    }
}

impl Classify for ConfigError {
    fn class(&self) -> Class {
        Class::Config
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NoKeys(_) => "no_keys",
            Self::NoUsableKey(_) => "no_usable_key",
            Self::BrokenKeys(_) => "broken_keys",
            Self::KeyRead { .. } | Self::Key { .. } | Self::KeyUri { .. } => "key_invalid",
            #[cfg(feature = "pkcs11")]
            Self::Token { .. } => "key_invalid",
            Self::DeviceType { .. } => "device_type_unknown",
            Self::Settings(_) => "settings_invalid",
            Self::Limit { .. } => "limit_invalid",
            Self::Read { .. } | Self::Missing(_) => "config_unreadable",
            Self::Json { .. }
            | Self::NotObject { .. }
            | Self::DuplicateKey { .. }
            | Self::WrongType { .. }
            | Self::BothKeyOptions { .. } => "config_invalid",
        }
    }
}

impl Classify for ServerError {
    fn class(&self) -> Class {
        match self {
            Self::Setting { .. } | Self::Identity { .. } | Self::DeviceKey { .. } => Class::Config,
            Self::Fetch(e) => e.class(),
            Self::NotAccepted { .. }
            | Self::Status { .. }
            | Self::BadAnswer { .. }
            | Self::Device(_) => Class::Failed,
            Self::Aborted { .. } => Class::Interrupted,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Setting { .. } => "server_config",
            Self::Identity { .. } => "identity",
            Self::DeviceKey { .. } => "device_key",
            Self::Fetch(e) => e.code(),
            Self::NotAccepted { .. } => "not_accepted",
            Self::Status { .. } => "server_error",
            Self::BadAnswer { .. } => "bad_answer",
            Self::Device(_) => "device_state",
            Self::Aborted { .. } => "deployment_aborted",
        }
    }
}

impl Classify for DaemonConfigError {
    fn class(&self) -> Class {
        Class::Config
    }

    fn code(&self) -> &'static str {
        "settings_invalid"
    }
}

impl Classify for SourceError {
    fn class(&self) -> Class {
        match self {
            Self::Open { source, .. } => io_class(source).0,
            Self::Fetch(e) => e.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "source_unavailable",
            Self::Fetch(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_are_classified_by_what_a_caller_can_do() {
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert_eq!(io_class(&full), (Class::Failed, "no_space"));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(io_class(&reset), (Class::Interrupted, "connection_lost"));
        let stopping = Interruption::io("the service is stopping");
        assert_eq!(io_class(&stopping), (Class::Interrupted, "interrupted"));
        let other = io::Error::other("disk on fire");
        assert_eq!(io_class(&other), (Class::Failed, "io_error"));
    }

    #[test]
    fn an_installer_error_keeps_its_class_through_the_reader() {
        let boxed: SinkError = Box::new(InstallError::NoRootfsLayout);
        let e = ReadError::Sink(boxed);
        assert_eq!((e.class(), e.code()), (Class::Config, "no_rootfs_layout"));
        let boxed: SinkError = Box::new(RootfsError::TooLarge {
            payload: 2,
            partition: "/dev/p3".into(),
            size: 1,
        });
        let e = ReadError::Sink(boxed);
        assert_eq!(
            (e.class(), e.code()),
            (Class::Rejected, "payload_too_large")
        );
        let e = ReadError::Sink(Box::new(DownloadError::Io {
            what: "stream".into(),
            source: io::Error::from(io::ErrorKind::StorageFull),
        }));
        assert_eq!((e.class(), e.code()), (Class::Failed, "no_space"));
    }
}
