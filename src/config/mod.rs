//! Configuration: mender.conf and the keys it names ([`mender_conf`]), artifact-gate's own
//! settings file ([`settings`]), and what each command needs from them ([`resolve`]).

pub mod mender_conf;
pub mod resolve;
pub mod settings;
