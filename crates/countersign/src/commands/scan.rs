//! `countersign scan`: every commit of a history with its AI signals, streamed.

use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::Path;

use countersign_core::detect::{self, DetectConfig};
use countersign_core::model::Commit;
use countersign_core::present;
use countersign_core::scan::{CommitLine, Month, Summary, level_of, tools};
use countersign_git::Repo;

use crate::failure::{self, Failure};
use crate::{EXIT_ALLOWED, Format};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanFormat {
    Text,
    Json,
    Jsonl,
    Csv,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ScanArgs {
    #[arg(long, default_value = ".")]
    pub repo: std::path::PathBuf,
    /// `A..B`, or one revision for its whole history (default HEAD).
    #[arg(long)]
    pub range: Option<String>,
    /// Folder with people.toml and policy.toml (default: `.countersign/` at the range's tip).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: ScanFormat,
}

/// One commit after detection, computed on a worker thread: what the summary needs and the
/// output line already rendered.
struct Scanned<'a> {
    ai_assisted: bool,
    month: Month,
    level: &'a str,
    tools: Vec<String>,
    line: Vec<u8>,
}

pub fn run(args: &ScanArgs) -> u8 {
    let format = args.format;
    let json_errors = if matches!(format, ScanFormat::Json | ScanFormat::Jsonl) { Format::Json } else { Format::Text };
    match scan(&args.repo, args.range.as_deref().unwrap_or("HEAD"), args.config.as_deref(), format) {
        Ok(()) => EXIT_ALLOWED,
        Err(failure) => failure::report(&failure, json_errors),
    }
}

fn scan(repo_path: &Path, range: &str, config_dir: Option<&Path>, format: ScanFormat) -> Result<(), Failure> {
    let repo = Repo::open(repo_path)?;
    let (tips, hidden) = repo.resolve_range(range)?;
    let (config, missing) = countersign_read::optional_config(&repo, tips[0], config_dir)?;
    if let Some(message) = missing {
        errln!("countersign: {message}; scanning without it: every author's level is unknown");
    }
    let detect_config = match &config {
        Some(config) => DetectConfig::new(&config.policy.ai.trailers, &config.directory.agent_emails()),
        None => DetectConfig::default(),
    };
    let contextual_counts = config.as_ref().is_some_and(|config| config.policy.ai.contextual_counts);
    let directory = config.as_ref().map(|config| &config.directory);

    let progress = crate::progress_bar("{spinner} {pos} commits scanned ({per_sec})");
    let notes = countersign_read::note_signals(&repo)?;
    let scan_one = |commit: Commit| -> Scanned {
        let mut scan = detect::scan_commit(&commit, &detect_config);
        scan.signals.extend(notes.get(&commit.id).into_iter().flatten().cloned());
        let ai_assisted = scan.ai_assisted(contextual_counts);
        let level = level_of(directory, &commit.author);
        let tools = tools(&scan.signals);
        let record = CommitLine {
            id: &commit.id,
            ai_assisted,
            signals: &scan.signals,
            author: commit.author.email.clone(),
            level,
            time: commit.time,
        };
        let month = Month::of(commit.time);
        let mut line = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = match format {
            ScanFormat::Jsonl => {
                serde_json::to_writer(&mut line, &record).map_err(std::io::Error::other).and_then(|()| writeln!(line))
            }
            ScanFormat::Json => serde_json::to_writer(&mut line, &record).map_err(std::io::Error::other),
            ScanFormat::Csv => line.write_all(present::csv_line(&record).as_bytes()),
            ScanFormat::Text if ai_assisted => {
                let subject = commit.message.lines().next().unwrap_or("");
                writeln!(line, "{} {month} {} [{}] {subject}", &commit.id[..10], record.author, tools.join(","))
            }
            ScanFormat::Text => Ok(()),
        };
        Scanned { ai_assisted, month, level, tools: tools.into_iter().map(str::to_owned).collect(), line }
    };

    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut summary = Summary::default();
    let mut write_error: Option<std::io::Error> = None;
    let mut first = true;
    if format == ScanFormat::Json {
        write_error = write!(out, "{{\"commits\":[").err();
    } else if format == ScanFormat::Csv {
        write_error = writeln!(out, "{}", present::CSV_HEADER).err();
    }
    let threads = std::thread::available_parallelism().map_or(1, |cores| cores.get().min(8));
    repo.walk_map(&tips, &hidden, threads, scan_one, |scanned| {
        summary.add(scanned.ai_assisted, scanned.month, scanned.level, &scanned.tools);
        let separator: &[u8] = if format == ScanFormat::Json && !first { b"," } else { b"" };
        first = false;
        write_error = out.write_all(separator).and_then(|()| out.write_all(&scanned.line)).err();
        if let Some(bar) = &progress {
            bar.inc(1);
        }
        if write_error.is_some() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let result = match format {
        ScanFormat::Json => write!(out, "],\"summary\":")
            .and_then(|()| serde_json::to_writer(&mut out, &summary).map_err(std::io::Error::other))
            .and_then(|()| writeln!(out, "}}")),
        ScanFormat::Text => write!(out, "{summary}"),
        ScanFormat::Jsonl | ScanFormat::Csv => Ok(()),
    };
    let result = match write_error {
        Some(error) => Err(error),
        None => result.and_then(|()| out.flush()),
    };
    match result {
        Ok(()) => Ok(()),
        // A closed pipe (`| head`) is a reader that has seen enough.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(failure::input(format!("cannot write output: {error}"))),
    }
}
