//! Where verify keys come from: `pkcs11:` URIs ([`uri`]) and the keys held in a PKCS#11 token
//! or a TPM ([`token`]). Key files are parsed by [`crate::signature::key`].

pub mod load;
#[cfg(feature = "pkcs11")]
pub mod token;
pub mod uri;
