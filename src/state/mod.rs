//! What the device remembers between commands: its provides ([`provides`]), the install
//! awaiting commit and the operation lock ([`store`]), the downgrade and security floors
//! ([`floor`], in a file or a TPM counter: [`tpm_counter`]), all written crash-safely
//! ([`persist`]).

pub mod floor;
pub mod persist;
pub mod provides;
pub mod store;
pub mod tpm_counter;
