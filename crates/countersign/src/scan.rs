//! `countersign scan`: every commit of a history with its AI signals, streamed.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
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
    by_month: BTreeMap<Month, Tally>,
    by_tool: BTreeMap<String, u64>,
    by_level: BTreeMap<String, Tally>,
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

impl Summary {
    fn add(&mut self, scanned: &Scanned<'_>) {
        let tally = |tally: &mut Tally| {
            tally.commits += 1;
            tally.ai_assisted += u64::from(scanned.ai_assisted);
        };
        self.commits += 1;
        self.ai_assisted += u64::from(scanned.ai_assisted);
        tally(self.by_month.entry(scanned.month).or_default());
        match self.by_level.get_mut(scanned.level) {
            Some(level) => tally(level),
            None => tally(self.by_level.entry(scanned.level.to_owned()).or_default()),
        }
        for tool in &scanned.tools {
            *self.by_tool.entry(tool.clone()).or_default() += 1;
        }
    }
}

/// A calendar month in UTC; formatted only when the summary is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Month {
    year: i16,
    month: i8,
}

impl Month {
    fn of(time: i64) -> Month {
        let date =
            jiff::Timestamp::from_second(time).map(|timestamp| timestamp.to_zoned(jiff::tz::TimeZone::UTC).date());
        date.map_or(Month { year: 0, month: 0 }, |date| Month { year: date.year(), month: date.month() })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.year == 0 { f.write_str("unknown") } else { write!(f, "{:04}-{:02}", self.year, self.month) }
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
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
fn optional_config(
    repo: &Repo,
    tip: countersign_git::ObjectId,
    config_dir: Option<&Path>,
) -> Result<Option<Config>, Failure> {
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
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos} commits scanned ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let scan_one = |commit: Commit| -> Scanned {
        let scan = detect::scan_commit(&commit, &detect_config);
        let ai_assisted = scan.ai_assisted(contextual_counts);
        let level = level_of(directory, &commit);
        let tools = dedup(scan.signals.iter().filter_map(|signal| signal.tool.as_deref()).collect());
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
            ScanFormat::Csv => write_csv(&mut line, &record),
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
        write_error = writeln!(out, "id,time,author,level,ai_assisted,tools,signals").err();
    }
    let threads = std::thread::available_parallelism().map_or(1, |cores| cores.get().min(8));
    repo.walk_map(&tips, &hidden, threads, scan_one, |scanned| {
        summary.add(&scanned);
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
    writeln!(
        out,
        "{},{},{},{},{},{},{}",
        line.id,
        line.time,
        csv_field(&line.author),
        csv_field(line.level),
        line.ai_assisted,
        csv_field(&tools.join(";")),
        csv_field(&texts.join(" | "))
    )
}

/// Quotes a CSV field when it holds a separator, a quote or a line break (RFC 4180).
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn write_text_summary(out: &mut impl Write, summary: &Summary) -> std::io::Result<()> {
    let percent = |part: u64, whole: u64| if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 };
    writeln!(
        out,
        "\n{} commits, {} AI-assisted ({:.1}%)",
        summary.commits,
        summary.ai_assisted,
        percent(summary.ai_assisted, summary.commits)
    )?;
    writeln!(out, "\nby month:")?;
    for (month, tally) in &summary.by_month {
        writeln!(
            out,
            "  {month}  {:>7} commits  {:>7} AI-assisted ({:.1}%)",
            tally.commits,
            tally.ai_assisted,
            percent(tally.ai_assisted, tally.commits)
        )?;
    }
    writeln!(out, "\nby tool:")?;
    for (tool, count) in &summary.by_tool {
        writeln!(out, "  {tool:<16} {count:>7} commits")?;
    }
    writeln!(out, "\nby author level:")?;
    for (level, tally) in &summary.by_level {
        writeln!(
            out,
            "  {level:<16} {:>7} commits  {:>7} AI-assisted ({:.1}%)",
            tally.commits,
            tally.ai_assisted,
            percent(tally.ai_assisted, tally.commits)
        )?;
    }
    Ok(())
}
