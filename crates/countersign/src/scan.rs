//! `countersign scan`: every commit of a history with its AI signals, streamed.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;

use countersign_core::config::Config;
use countersign_core::detect::{self, DetectConfig, Signal};
use countersign_core::directory::{Directory, Member};
use countersign_core::model::Commit;
use countersign_git::Repo;
use serde::Serialize;

use crate::load::{self, Failure};
use crate::{EXIT_ALLOWED, Format, ScanFormat};

#[derive(Serialize)]
struct CommitLine<'a> {
    id: &'a str,
    ai_assisted: bool,
    signals: &'a [Signal],
    author: String,
    level: &'a str,
    time: i64,
}

#[derive(Default, Serialize)]
struct Tally {
    commits: u64,
    ai_assisted: u64,
}

#[derive(Default, Serialize)]
struct Summary {
    commits: u64,
    ai_assisted: u64,
    by_month: BTreeMap<String, Tally>,
    by_tool: BTreeMap<String, u64>,
    by_level: BTreeMap<String, Tally>,
}

impl Summary {
    fn add(&mut self, commit: &Commit, ai_assisted: bool, signals: &[Signal], level: &str) {
        let tally = |tally: &mut Tally| {
            tally.commits += 1;
            tally.ai_assisted += u64::from(ai_assisted);
        };
        self.commits += 1;
        self.ai_assisted += u64::from(ai_assisted);
        tally(self.by_month.entry(month(commit.time)).or_default());
        tally(self.by_level.entry(level.to_owned()).or_default());
        let mut tools: Vec<&str> = signals.iter().filter_map(|signal| signal.tool.as_deref()).collect();
        tools.sort_unstable();
        tools.dedup();
        for tool in tools {
            *self.by_tool.entry(tool.to_owned()).or_default() += 1;
        }
    }
}

fn month(time: i64) -> String {
    jiff::Timestamp::from_second(time).map_or_else(|_| "unknown".to_owned(), |timestamp| timestamp.strftime("%Y-%m").to_string())
}

pub fn scan(repo_path: &Path, range: Option<&str>, config_dir: Option<&Path>, format: ScanFormat) -> u8 {
    let json_errors = if matches!(format, ScanFormat::Json | ScanFormat::Jsonl) { Format::Json } else { Format::Text };
    match run(repo_path, range.unwrap_or("HEAD"), config_dir, format) {
        Ok(()) => EXIT_ALLOWED,
        Err(failure) => failure.report(json_errors),
    }
}

/// The configuration is optional for a scan: without it levels are unknown and only the
/// built-in markers count.
fn optional_config(repo: &Repo, tip: countersign_git::ObjectId, config_dir: Option<&Path>) -> Result<Option<Config>, Failure> {
    match load::config_files_at(repo, tip, config_dir) {
        Ok(files) => Ok(Some(load::load_config(&files)?.0)),
        Err(Failure::Input(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

fn run(repo_path: &Path, range: &str, config_dir: Option<&Path>, format: ScanFormat) -> Result<(), Failure> {
    let repo = Repo::open(repo_path)?;
    let (tips, hidden) = repo.resolve_range(range)?;
    let config = optional_config(&repo, tips[0], config_dir)?;
    let detect_config = match &config {
        Some(config) => DetectConfig::new(&config.policy.ai.trailers, &config.directory.agent_emails()),
        None => DetectConfig::default(),
    };
    let contextual_counts = config.as_ref().is_some_and(|config| config.policy.ai.contextual_counts);
    let directory = config.as_ref().map(|config| &config.directory);

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {pos} commits scanned ({per_sec})").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        bar
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut summary = Summary::default();
    let mut write_error: Option<std::io::Error> = None;
    let mut first = true;
    if format == ScanFormat::Json {
        write_error = write!(out, "{{\"commits\":[").err();
    } else if format == ScanFormat::Csv {
        write_error = writeln!(out, "id,time,author,level,ai_assisted,tools,signals").err();
    }
    repo.walk(&tips, &hidden, |commit| {
        if write_error.is_some() {
            return;
        }
        let scan = detect::scan_commit(&commit, &detect_config);
        let ai_assisted = scan.ai_assisted(contextual_counts);
        let level = level_of(directory, &commit);
        summary.add(&commit, ai_assisted, &scan.signals, level);
        let line = CommitLine { id: &commit.id, ai_assisted, signals: &scan.signals, author: commit.author.email.clone(), level, time: commit.time };
        let result = match format {
            ScanFormat::Jsonl => serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other).and_then(|()| writeln!(out)),
            ScanFormat::Json => {
                let separator = if first { "" } else { "," };
                first = false;
                write!(out, "{separator}").and_then(|()| serde_json::to_writer(&mut out, &line).map_err(std::io::Error::other))
            }
            ScanFormat::Csv => write_csv(&mut out, &line),
            ScanFormat::Text if ai_assisted => {
                let tools: Vec<&str> = line.signals.iter().filter_map(|signal| signal.tool.as_deref()).collect();
                let subject = commit.message.lines().next().unwrap_or("");
                writeln!(out, "{} {} {} [{}] {subject}", &commit.id[..10], month(commit.time), line.author, dedup(tools).join(","))
            }
            ScanFormat::Text => Ok(()),
        };
        write_error = result.err();
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let result = match format {
        ScanFormat::Json => write!(out, "],\"summary\":").and_then(|()| serde_json::to_writer(&mut out, &summary).map_err(std::io::Error::other)).and_then(|()| writeln!(out, "}}")),
        ScanFormat::Text => write_text_summary(&mut out, &summary),
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
        Err(error) => Err(Failure::input(format!("cannot write output: {error}"))),
    }
}

fn dedup(mut tools: Vec<&str>) -> Vec<&str> {
    tools.sort_unstable();
    tools.dedup();
    tools
}

fn level_of<'a>(directory: Option<&'a Directory>, commit: &Commit) -> &'a str {
    match directory.and_then(|directory| directory.by_identity(&commit.author).map(|member| (directory, member))) {
        Some((directory, Member::Person(person))) => directory.level_name(person.rank()),
        Some((_, Member::Agent(_))) => "agent",
        None => "unknown",
    }
}

fn write_csv(out: &mut impl Write, line: &CommitLine<'_>) -> std::io::Result<()> {
    let tools: Vec<&str> = dedup(line.signals.iter().filter_map(|signal| signal.tool.as_deref()).collect());
    let texts: Vec<&str> = line.signals.iter().map(|signal| signal.text.as_str()).collect();
    writeln!(out, "{},{},{},{},{},{},{}", line.id, line.time, csv_field(&line.author), csv_field(line.level), line.ai_assisted, csv_field(&tools.join(";")), csv_field(&texts.join(" | ")))
}

/// Quotes a CSV field when it holds a separator, a quote or a line break (RFC 4180).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value.to_owned() }
}

fn write_text_summary(out: &mut impl Write, summary: &Summary) -> std::io::Result<()> {
    let percent = |part: u64, whole: u64| if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 };
    writeln!(out, "\n{} commits, {} AI-assisted ({:.1}%)", summary.commits, summary.ai_assisted, percent(summary.ai_assisted, summary.commits))?;
    writeln!(out, "\nby month:")?;
    for (month, tally) in &summary.by_month {
        writeln!(out, "  {month}  {:>7} commits  {:>7} AI-assisted ({:.1}%)", tally.commits, tally.ai_assisted, percent(tally.ai_assisted, tally.commits))?;
    }
    writeln!(out, "\nby tool:")?;
    for (tool, count) in &summary.by_tool {
        writeln!(out, "  {tool:<16} {count:>7} commits")?;
    }
    writeln!(out, "\nby author level:")?;
    for (level, tally) in &summary.by_level {
        writeln!(out, "  {level:<16} {:>7} commits  {:>7} AI-assisted ({:.1}%)", tally.commits, tally.ai_assisted, percent(tally.ai_assisted, tally.commits))?;
    }
    Ok(())
}
