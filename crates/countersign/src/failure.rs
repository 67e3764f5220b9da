//! Failures rendered once, at the edge: miette diagnostics on stderr, and for pipelines a JSON
//! object on stdout. Every one of them is exit 2: the gate could not decide and fails closed.

use countersign_read::ReadError;

use crate::Format;

/// Everything that makes a command answer "bad input": the read stage's errors and the binary's own.
pub type Failure = ReadError;

pub fn input(message: impl Into<String>) -> Failure {
    ReadError::input(message)
}

/// Prints the failure and returns the exit code for bad input.
pub fn report(failure: &Failure, format: Format) -> u8 {
    match failure {
        ReadError::Config(errors) => {
            for error in errors {
                errln!("{:?}", miette::Report::new(error.clone()));
            }
            errln!("countersign: {} configuration error(s); the gate fails closed until they are fixed", errors.len());
        }
        ReadError::Analysis(errors) => {
            for error in errors {
                errln!("{:?}", miette::Report::new(error.clone()));
            }
            errln!(
                "countersign: {} file(s) could not be analysed; the gate fails closed until they can be",
                errors.len()
            );
        }
        other => errln!("countersign: error: {other}"),
    }
    if format == Format::Json {
        outln!("{}", serde_json::json!({ "verdict": "error", "errors": failure.summaries() }));
    }
    crate::EXIT_BAD_INPUT
}
