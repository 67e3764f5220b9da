//! One module per command.

pub mod check;
pub mod demo;
pub mod deploy;
pub mod directory;
pub mod owners;
pub mod policy;
pub mod review;
pub mod scan;
pub mod serve;
pub mod service;
pub mod simulate;
