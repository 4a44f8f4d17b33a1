//! Whether a verified artifact is meant for this device.
//!
//! Pure decisions over a [`CheckedHeader`]; where the device facts come from (the
//! `device_type` file, the provides store) is the caller's business. Spec §7.4: the device type
//! must be one of `artifact_depends.device_type`, compared as exact strings.

use thiserror::Error;

use crate::artifact::CheckedHeader;

/// Why an artifact does not fit the device.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The device type is not among the artifact's compatible types.
    #[error("artifact is for device types {supported:?}, not for '{device}'")]
    IncompatibleDevice {
        /// This device's type.
        device: String,
        /// The artifact's list.
        supported: Vec<String>,
    },
}

/// What is known about the target device.
#[derive(Debug, Clone, Default)]
pub struct DeviceFacts {
    /// The device type to check against, if any.
    pub device_type: Option<String>,
}

/// Checks `header` against `device`; called before any payload byte is handed on.
pub fn check(header: &CheckedHeader, device: &DeviceFacts) -> Result<(), PolicyError> {
    if let Some(device_type) = &device.device_type
        && !header.device_types.iter().any(|t| t == device_type)
    {
        return Err(PolicyError::IncompatibleDevice {
            device: device_type.clone(),
            supported: header.device_types.clone(),
        });
    }
    Ok(())
}
