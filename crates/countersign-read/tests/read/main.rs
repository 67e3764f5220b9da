//! The read stage against real repositories built with the git CLI.
