//! Tests of the blast-radius analysers.
