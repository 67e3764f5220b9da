//! `countersign owners`: who owns paths, and which CODEOWNERS line decided.

use std::path::PathBuf;

use clap::Args;
use countersign_core::config::Ownership;
use countersign_core::evaluate::{self, PathOwners};
use countersign_core::finding::{Finding, Severity};
use countersign_core::present;
use countersign_git::Repo;

use crate::failure::{self, Failure};
use crate::{EXIT_ALLOWED, Format};

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
    let result = (|| -> Result<(Vec<PathOwners>, Vec<Finding>), Failure> {
        let repo = Repo::open(&args.repo)?;
        let at = repo.resolve(&args.rev)?;
        // Owners need no policy: a repository with only a CODEOWNERS (or only services.toml)
        // still has owners to show.
        let files = countersign_read::present_files_at(&repo, at, args.config.as_deref())?;
        let (ownership, mut findings) =
            Ownership::load(files.people.as_ref(), files.services.as_ref(), files.codeowners.as_ref())
                .map_err(Failure::Config)?;
        if files.people.is_none() {
            findings.push(Finding::new(
                Severity::Info,
                "no-people",
                "no .countersign/people.toml: owners are shown as written, without the people they stand for",
            ));
        }
        let answers: Vec<PathOwners> = args.paths.iter().map(|path| evaluate::path_owners(&ownership, path)).collect();
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
                    out!("{}", present::owners(&answers));
                    out!("{}", present::findings(&findings));
                }
            }
            EXIT_ALLOWED
        }
        Err(failure) => failure::report(&failure, format),
    }
}
