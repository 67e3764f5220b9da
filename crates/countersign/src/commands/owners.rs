//! `countersign owners`: who owns paths, and which CODEOWNERS line decided.

use std::path::PathBuf;

use clap::Args;
use countersign_core::evaluate::{self, PathOwners};
use countersign_git::Repo;

use crate::failure::{self, Failure};
use crate::{EXIT_ALLOWED, Format, render};

#[derive(Args, Clone, Debug)]
pub struct OwnersArgs {
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    #[arg(long, default_value = "HEAD")]
    pub rev: String,
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[arg(required = true)]
    pub paths: Vec<String>,
}

pub fn run(args: &OwnersArgs) -> u8 {
    let format = args.format;
    let result = (|| -> Result<(Vec<PathOwners>, Vec<countersign_core::finding::Finding>), Failure> {
        let repo = Repo::open(&args.repo)?;
        let at = repo.resolve(&args.rev)?;
        let files = countersign_read::config_files_at(&repo, at, args.config.as_deref())?;
        let (config, findings) = countersign_read::load_config(&files)?;
        let answers: Vec<PathOwners> = args.paths.iter().map(|path| evaluate::path_owners(&config, path)).collect();
        Ok((answers, findings))
    })();
    match result {
        Ok((answers, findings)) => {
            match format {
                Format::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "paths": answers, "findings": findings }))
                        .unwrap_or_default()
                ),
                Format::Text => {
                    for answer in &answers {
                        outln!("{}", answer.path);
                        match &answer.codeowners {
                            Some(rule) if rule.owners.is_empty() => outln!(
                                "  owners:   none (explicitly unowned by {}:{} `{}`)",
                                rule.file,
                                rule.line,
                                rule.pattern
                            ),
                            Some(rule) => outln!(
                                "  owners:   {} ({}) from {}:{} `{}`",
                                rule.owners.join(" "),
                                rule.people.join(", "),
                                rule.file,
                                rule.line,
                                rule.pattern
                            ),
                            None => outln!("  owners:   none (no CODEOWNERS line matches)"),
                        }
                        let services: Vec<String> = answer
                            .services
                            .iter()
                            .map(|service| format!("{} (tier {})", service.name, service.tier))
                            .collect();
                        outln!(
                            "  services: {}",
                            if services.is_empty() { "none".to_owned() } else { services.join(", ") }
                        );
                    }
                    render::findings(&findings);
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, format),
    }
}
