//! What the device remembers between commands: its provides ([`provides`]), the install
//! awaiting commit and the operation lock ([`store`]), all written crash-safely ([`persist`]).

pub mod persist;
pub mod provides;
pub mod store;
