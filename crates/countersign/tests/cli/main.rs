//! Integration tests of the countersign binary: one test binary, one module per area.

mod attacks;
mod blast;
mod bounds;
mod commands;
mod deploy;
mod gate;
mod github;
mod server;
mod simulate;
mod util;
mod web;
