//! The pure core of countersign: it reads no files, opens no repositories and cannot fail on IO.
//! Adapters hand it owned values; it returns results plus findings.

pub mod attestation;
pub mod audit;
pub mod codeowners;
pub mod config;
pub mod detect;
pub mod diagnostic;
pub mod directory;
pub mod evaluate;
pub mod finding;
pub mod fingerprint;
pub mod model;
pub mod policy;
pub mod risk;
pub mod rollout;
pub mod routing;
pub mod services;
pub mod simulate;
