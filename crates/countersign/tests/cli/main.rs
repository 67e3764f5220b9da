//! Integration tests of the countersign binary: one test binary, one module per area.

mod commands;
mod gate;
mod util;
