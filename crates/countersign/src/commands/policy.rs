//! `countersign policy check`: validates the configuration, every mistake of every file.

use std::path::PathBuf;

use clap::Subcommand;

use crate::failure;
use crate::{EXIT_ALLOWED, Format};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate people.toml, services.toml, policy.toml and CODEOWNERS.
    Check {
        /// The configuration folder (default `.countersign`).
        #[arg(long, default_value = ".countersign")]
        config: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
}

pub fn run(command: &PolicyCommand) -> u8 {
    let PolicyCommand::Check { config, format } = command;
    let format = *format;
    let result = countersign_read::config_files_in_dir(config).and_then(|files| countersign_read::load_config(&files));
    match result {
        Ok((config, findings)) => {
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::json!({
                        "valid": true,
                        "rules": config.policy.rules.iter().map(|rule| &rule.name).collect::<Vec<_>>(),
                        "people": config.directory.people().len(),
                        "agents": config.directory.agents().len(),
                        "services": config.services.all().len(),
                        "findings": findings,
                    })
                ),
                Format::Text => {
                    outln!(
                        "policy ok: {} rules, {} people, {} agents, {} services",
                        config.policy.rules.len(),
                        config.directory.people().len(),
                        config.directory.agents().len(),
                        config.services.all().len()
                    );
                    out!("{}", countersign_core::present::findings(&findings));
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, format),
    }
}
