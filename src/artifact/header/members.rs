//! The header tar's members, read into memory with their names, types, order and sizes checked
//! (spec §5.1).

use std::io::Read;

use super::HeaderError;
use crate::artifact::tar_rules;
use crate::stream::limits::Limits;
use crate::stream::{self, StreamError};

/// Reads every member of the header tar into memory, enforcing names, types and limits.
pub(super) fn read_members<R: Read>(
    reader: R,
    limits: &Limits,
) -> Result<Vec<(String, Vec<u8>)>, HeaderError> {
    let malformed = |e: std::io::Error| match StreamError::recover(e) {
        StreamError::Malformed(m) => HeaderError::Malformed(m),
        StreamError::Cut => HeaderError::Malformed(
            "its compressed stream stops before its end marker (cut short)".to_owned(),
        ),
        StreamError::Truncated { expected, found } => HeaderError::Malformed(format!(
            "a member ends after {found} of its {expected} bytes"
        )),
        StreamError::Source(e) => HeaderError::Malformed(e.to_string()),
        StreamError::TooLarge { limit } => HeaderError::Malformed(format!(
            "the artifact is larger than the limit of {limit} bytes"
        )),
        StreamError::InflateRatio { limit, .. } => {
            HeaderError::Malformed(format!("it inflates more than {limit}:1"))
        }
        StreamError::BadPax(pax) => HeaderError::Malformed(pax.to_string()),
    };
    let mut archive = tar::Archive::new(tar_rules::ExtensionGuard::new(
        reader,
        limits.max_tar_extension,
    ));
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    {
        let entries = archive.entries().map_err(malformed)?;
        for entry in entries {
            let entry = entry.map_err(malformed)?;
            let name = tar_rules::member_name(&entry, limits.max_name_len)
                .map_err(|(name, reason)| HeaderError::BadMemberName { name, reason })?;
            if let Err(kind) = tar_rules::require_regular(&entry) {
                return Err(HeaderError::NotRegular { member: name, kind });
            }
            if members.len() >= limits.max_header_members {
                return Err(HeaderError::TooManyMembers(limits.max_header_members));
            }
            if members.iter().any(|(n, _)| *n == name) {
                return Err(HeaderError::Duplicate(name));
            }
            let size = entry.size();
            total = total.saturating_add(size);
            if total > limits.max_header_unpacked {
                return Err(HeaderError::TooLarge(limits.max_header_unpacked));
            }
            let body = stream::read_bounded(stream::ExactReader::new(entry, size), size)
                .map_err(malformed)?
                .unwrap_or_default();
            members.push((name, body));
        }
    }
    match tar_rules::check_end_of_archive(archive.into_inner(), limits.max_tar_padding_bytes)
        .map_err(malformed)?
    {
        Ok(()) => Ok(members),
        Err(end) => Err(HeaderError::End(end)),
    }
}
