//! `countersign directory import`: a proposed people.toml from a GitHub organisation.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::{EXIT_ALLOWED, EXIT_BAD_INPUT};

#[derive(Subcommand, Clone, Debug)]
pub enum DirectoryCommand {
    /// Propose a people.toml from a GitHub organisation's members and teams; each level is left
    /// as "?" for a person to fill in (the file does not load until then).
    Import {
        #[arg(long, value_name = "ORG")]
        github_org: String,
        /// GitHub's API: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
        #[arg(long, default_value = "https://api.github.com")]
        github_api_url: String,
        /// A file holding a token that may read the organisation's members (else
        /// COUNTERSIGN_GITHUB_TOKEN).
        #[arg(long, value_name = "FILE")]
        github_token_file: Option<PathBuf>,
        /// Write here instead of standard output; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(command: &DirectoryCommand) -> u8 {
    let DirectoryCommand::Import { github_org, github_api_url, github_token_file, output } = command;
    let options = countersign_server::github::setup::Options {
        secret_file: None,
        secret: None,
        api_url: github_api_url,
        app_id: None,
        app_key: None,
        token_file: github_token_file.as_deref(),
        token: std::env::var("COUNTERSIGN_GITHUB_TOKEN").ok(),
        environments: &[],
    };
    let proposal = countersign_server::github::setup::client(&options).and_then(|client| {
        let client = client.ok_or(
            "give a token that may read the organisation: --github-token-file FILE or COUNTERSIGN_GITHUB_TOKEN",
        )?;
        countersign_server::github::setup::propose_directory(&client, github_org)
    });
    let text = match proposal {
        Ok(text) => text,
        Err(message) => {
            errln!("countersign: error: {message}");
            return EXIT_BAD_INPUT;
        }
    };
    let written = match output {
        None => std::io::stdout().write_all(text.as_bytes()).map_err(|error| error.to_string()),
        Some(path) => std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|error| {
                format!("cannot write {} (an existing file is never overwritten): {error}", path.display())
            }),
    };
    match written {
        Ok(()) => EXIT_ALLOWED,
        Err(message) => {
            errln!("countersign: error: {message}");
            EXIT_BAD_INPUT
        }
    }
}
