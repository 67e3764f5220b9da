//! The summary of a history scan: commits and AI-assisted commits by month, tool and author level.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::detect::Signal;
use crate::directory::{Directory, Member};
use crate::model::Identity;

/// One scanned commit, as `countersign scan` writes it (a JSON object or a CSV line).
#[derive(Serialize)]
pub struct CommitLine<'a> {
    pub id: &'a str,
    pub ai_assisted: bool,
    pub signals: &'a [Signal],
    pub author: String,
    pub level: &'a str,
    pub time: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub commits: u64,
    pub ai_assisted: u64,
}

impl Tally {
    fn add(&mut self, ai_assisted: bool) {
        self.commits += 1;
        self.ai_assisted += u64::from(ai_assisted);
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub commits: u64,
    pub ai_assisted: u64,
    pub by_month: BTreeMap<Month, Tally>,
    pub by_tool: BTreeMap<String, u64>,
    pub by_level: BTreeMap<String, Tally>,
}

impl Summary {
    pub fn add(&mut self, ai_assisted: bool, month: Month, level: &str, tools: &[String]) {
        self.commits += 1;
        self.ai_assisted += u64::from(ai_assisted);
        self.by_month.entry(month).or_default().add(ai_assisted);
        match self.by_level.get_mut(level) {
            Some(tally) => tally.add(ai_assisted),
            None => self.by_level.entry(level.to_owned()).or_default().add(ai_assisted),
        }
        for tool in tools {
            *self.by_tool.entry(tool.clone()).or_default() += 1;
        }
    }
}

/// The summary as a person reads it after a scan.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = |tally: &Tally| {
            if tally.commits == 0 { 0.0 } else { 100.0 * tally.ai_assisted as f64 / tally.commits as f64 }
        };
        let all = Tally { commits: self.commits, ai_assisted: self.ai_assisted };
        writeln!(f, "\n{} commits, {} AI-assisted ({:.1}%)", all.commits, all.ai_assisted, percent(&all))?;
        let tallies = |f: &mut std::fmt::Formatter<'_>, title: &str, width: usize, rows: Vec<(String, &Tally)>| {
            writeln!(f, "\n{title}:")?;
            for (label, tally) in rows {
                let (commits, ai, share) = (tally.commits, tally.ai_assisted, percent(tally));
                writeln!(f, "  {label:<width$} {commits:>7} commits  {ai:>7} AI-assisted ({share:.1}%)")?;
            }
            Ok(())
        };
        let months = self.by_month.iter().map(|(month, tally)| (month.to_string(), tally)).collect();
        tallies(f, "by month", 8, months)?;
        writeln!(f, "\nby tool:")?;
        for (tool, count) in &self.by_tool {
            writeln!(f, "  {tool:<16} {count:>7} commits")?;
        }
        tallies(f, "by author level", 16, self.by_level.iter().map(|(level, tally)| (level.clone(), tally)).collect())
    }
}

/// A calendar month in UTC; formatted only when the summary is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    year: i16,
    month: i8,
}

impl Month {
    /// The month of a time in seconds since the epoch; `unknown` when out of range.
    pub fn of(time: i64) -> Month {
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

/// The level of a commit's author: a directory level, `agent`, or `unknown`.
pub fn level_of<'a>(directory: Option<&'a Directory>, author: &Identity) -> &'a str {
    match directory.and_then(|directory| directory.by_identity(author).map(|member| (directory, member))) {
        Some((directory, Member::Person(person))) => directory.level_name(person.rank()),
        Some((_, Member::Agent(_))) => "agent",
        None => "unknown",
    }
}

/// The distinct tools named by signals, sorted.
pub fn tools(signals: &[Signal]) -> Vec<&str> {
    let mut tools: Vec<&str> = signals.iter().filter_map(|signal| signal.tool.as_deref()).collect();
    tools.sort_unstable();
    tools.dedup();
    tools
}
