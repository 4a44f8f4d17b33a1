//! Every size and count cap applied to untrusted input, in one place.
//!
//! The verifier reads an artifact exactly once, as a stream. Everything it buffers (the `version`
//! and `manifest` entries, the signature and the whole header) is bounded by a cap from here, so a
//! hostile artifact cannot make it allocate without limit. Payload bytes are never buffered: they
//! stream through a fixed-size buffer however large a member is.
//!
//! The caps an operator may change are the `[limits]` table of artifact-gate.toml, deserialised
//! straight into [`Limits`] (the field names are the keys); the others are fixed here.

/// Caps on what the verifier and the daemon will read or buffer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest `version` entry (mender-artifact writes 31 bytes).
    #[serde(skip)]
    pub max_version: u64,
    /// Largest `manifest` entry.
    #[serde(skip)]
    pub max_manifest: u64,
    /// Largest `manifest.sig` entry (an RSA-8192 signature is 1,368 base64 characters).
    #[serde(skip)]
    pub max_signature: u64,
    /// Largest compressed `header.tar*`; it is buffered whole so it can be hash-checked before
    /// it is parsed (spec §12.7).
    pub max_header_bytes: u64,
    /// Largest total of decompressed header members.
    #[serde(skip)]
    pub max_header_unpacked: u64,
    /// Largest number of members inside the header tar.
    #[serde(skip)]
    pub max_header_members: usize,
    /// Largest number of files in the payload (and lines in the manifest).
    pub max_payload_files: usize,
    /// Longest entry or file name, in bytes.
    #[serde(skip)]
    pub max_name_len: usize,
    /// Largest tar extension record (PAX header, GNU long name), which the tar reader buffers.
    #[serde(skip)]
    pub max_tar_extension: u64,
    /// Memory the xz decoder may use; mender-artifact's `lzma` compressor uses a 64 MiB dictionary.
    pub max_xz_memory_bytes: u64,
    /// Largest artifact, counted over the raw input stream.
    pub max_artifact_bytes: u64,
    /// Most zero padding accepted after a tar's end-of-archive marker (outer, header, payload).
    /// Tar writers pad to at most a 10 KiB record; the cap stops a payload recompressed over
    /// endless zeros, which the signed manifest does not cover.
    pub max_tar_padding_bytes: u64,
    /// Most bytes a compressed payload may inflate to per compressed byte, checked once it has
    /// produced [`INFLATE_RATIO_FLOOR`] bytes; 0 turns the guard off. The payload tar's member
    /// sizes are not signed, so a tampered member can claim any size; its checksum fails only
    /// at its end. gzip cannot inflate much more than 1032:1, so the default never refuses a
    /// gzip payload; it holds xz and zstd, which reach thousands to tens of thousands to one on
    /// zeros, to the same amplification. A nearly empty file system image sent with xz or
    /// zstd may need it raised.
    pub max_inflate_ratio: u64,
    /// Largest JSON request body the daemon reads, in bytes.
    pub max_request_json_bytes: usize,
    /// Connections the daemon serves at once; more wait in the socket's backlog.
    pub max_connections: usize,
    /// An upload that sends nothing for this many seconds is abandoned.
    pub upload_stall_seconds: u64,
}

/// Output a payload produces before [`Limits::max_inflate_ratio`] is checked: small payloads
/// of highly compressible data are never refused.
pub const INFLATE_RATIO_FLOOR: u64 = 64 * MIB;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_version: 4 * KIB,
            max_manifest: MIB,
            max_signature: 16 * KIB,
            max_header_bytes: 8 * MIB,
            max_header_unpacked: 32 * MIB,
            max_header_members: 1024,
            max_payload_files: 10_000,
            max_name_len: 255,
            max_tar_extension: 64 * KIB,
            max_xz_memory_bytes: 128 * MIB,
            max_artifact_bytes: 64 * GIB,
            max_tar_padding_bytes: MIB,
            max_inflate_ratio: 1100,
            max_request_json_bytes: 64 * 1024,
            max_connections: 16,
            upload_stall_seconds: 60,
        }
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
