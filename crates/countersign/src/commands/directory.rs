//! `countersign directory import`: a proposed people.toml from a GitHub organisation.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::{EXIT_ALLOWED, EXIT_BAD_INPUT};

#[derive(Subcommand, Clone, Debug)]
pub enum DirectoryCommand {
    /// Propose a people.toml from a GitHub organisation's members and teams, levels left as "?" to fill in.
    Import {
        #[arg(long, value_name = "ORG")]
        github_org: String,
        #[command(flatten)]
        github: super::serve::GithubApiArgs,
        /// Write here instead of standard output; an existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(command: &DirectoryCommand) -> u8 {
    let DirectoryCommand::Import { github_org, github, output } = command;
    let result = countersign_server::github::setup::client(&github.options())
        .and_then(|client| {
            client.ok_or_else(|| {
                "give a token that may read the organisation: --github-token-file FILE or COUNTERSIGN_GITHUB_TOKEN"
                    .to_owned()
            })
        })
        .and_then(|client| countersign_server::github::setup::propose_directory(&client, github_org))
        .and_then(|text| match output {
            None => std::io::stdout().write_all(text.as_bytes()).map_err(|error| error.to_string()),
            Some(path) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .map_err(|error| {
                    format!("cannot write {} (an existing file is never overwritten): {error}", path.display())
                }),
        });
    match result {
        Ok(()) => EXIT_ALLOWED,
        Err(message) => {
            errln!("countersign: error: {message}");
            EXIT_BAD_INPUT
        }
    }
}
