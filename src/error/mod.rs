//! How failures are told: untrusted strings quoted and escaped in every message ([`escape`]).

pub mod escape;
