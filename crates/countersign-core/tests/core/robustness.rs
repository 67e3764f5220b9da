//! Parsers of untrusted input never panic, whatever they are given.

use countersign_core::attestation::Envelope;
use countersign_core::codeowners::CodeOwners;
use countersign_core::config::{Config, ConfigFiles};
use countersign_core::detect::{DetectConfig, scan_branch, scan_commit};
use countersign_core::diagnostic::SourceFile;
use countersign_core::model::{Commit, Identity};
use proptest::prelude::*;

/// Text built from the pieces that matter to the parsers, so random input reaches deep paths.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Co-authored-by: ".to_owned()),
        Just("Assisted-by: ".to_owned()),
        Just("<noreply@anthropic.com>".to_owned()),
        Just("[bot]@users.noreply.github.com".to_owned()),
        Just("generated with [".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("* ".to_owned()),
        Just("@org/team ".to_owned()),
        Just("/**/".to_owned()),
        Just("[".to_owned()),
        Just("\"".to_owned()),
        Just("=".to_owned()),
        Just("é🤖".to_owned()),
        "[ -~]{0,12}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn scanning_any_message_and_identity_never_panics(message in tricky_text(), name in tricky_text(), email in tricky_text()) {
        let commit = Commit {
            id: "0".repeat(40),
            parents: vec![],
            author: Identity::new(name.clone(), email.clone()),
            committer: Identity::new(email, name),
            time: 0,
            message,
            files: vec![],
        };
        let config = DetectConfig::new(&["AI-Tool".to_owned()], &[("ops@x".to_owned(), "ops".to_owned())]);
        let scan = scan_commit(&commit, &config);
        for signal in &scan.signals {
            prop_assert!(!signal.text.is_empty());
        }
    }

    #[test]
    fn branch_names_never_panic(branch in tricky_text()) {
        let _ = scan_branch(&branch);
    }

    #[test]
    fn any_codeowners_text_parses_or_reports(text in tricky_text(), path in "[a-z/]{0,20}") {
        let (codeowners, _) = CodeOwners::parse("CODEOWNERS", &text);
        let _ = codeowners.rule_for(&path);
    }

    #[test]
    fn any_configuration_text_is_accepted_or_diagnosed(people in tricky_text(), policy in tricky_text()) {
        let files = ConfigFiles {
            people: SourceFile::new("people.toml", people),
            services: Some(SourceFile::new("services.toml", "")),
            policy: SourceFile::new("policy.toml", policy),
            codeowners: None,
        };
        if let Err(errors) = Config::load(&files) {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn any_attestation_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..256), text in tricky_text()) {
        let _ = Envelope::from_bytes(&bytes);
        if let Ok(envelope) = Envelope::from_bytes(text.as_bytes()) {
            let _ = envelope.statement_unverified();
        }
    }
}

#[test]
fn oversized_attestations_are_refused_before_parsing() {
    let huge = vec![b' '; countersign_core::attestation::MAX_ENVELOPE_BYTES + 1];
    let error = Envelope::from_bytes(&huge).expect_err("too large");
    assert_eq!(error.to_string(), "is not a valid attestation: larger than 65536 bytes");
}
