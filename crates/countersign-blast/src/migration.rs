//! SQL migrations, linted with squawk (pinned): what drops, truncates, renames or retypes data is
//! destructive; what takes long locks is a hazard.

use countersign_core::model::{Operation, OperationSource};
use squawk_linter::{Linter, LinterSettings, Rule, Version};
use squawk_syntax::ast::{self, AstNode};

use crate::{Findings, line_of};

/// Migrations larger than this are not parsed; they count as destructive, since nobody read them.
pub const MAX_MIGRATION_BYTES: usize = 4 * 1024 * 1024;

/// Rules whose violation loses data or breaks the contract with running code.
const DESTRUCTIVE: [Rule; 9] = [
    Rule::BanDropTable,
    Rule::BanDropColumn,
    Rule::BanDropDatabase,
    Rule::BanDropSchema,
    Rule::BanTruncateCascade,
    Rule::ChangingColumnType,
    Rule::RenamingColumn,
    Rule::RenamingTable,
    Rule::RenamingObject,
];

/// Rules whose violation locks tables or blocks writes while it runs.
const HAZARDS: [Rule; 16] = [
    Rule::RequireConcurrentIndexCreation,
    Rule::RequireConcurrentIndexDeletion,
    Rule::RequireConcurrentReindex,
    Rule::RequireConcurrentPartitionDetach,
    Rule::BanConcurrentIndexCreationInTransaction,
    Rule::AddingNotNullableField,
    Rule::AddingRequiredField,
    Rule::AddingFieldWithDefault,
    Rule::AddingForeignKeyConstraint,
    Rule::AddingSerialPrimaryKeyField,
    Rule::ConstraintMissingNotValid,
    Rule::DisallowedUniqueConstraint,
    Rule::BanAlterDomainWithAddConstraint,
    Rule::BanCreateDomainWithConstraint,
    Rule::BanDropNotNull,
    Rule::BanDropSequence,
];

/// How to lint: the server version matters for some rules (e.g. defaults are cheap from 11 on).
#[derive(Clone, Debug, Default)]
pub struct MigrationSettings {
    pub postgres_version: Option<String>,
}

/// Lints one migration file.
pub fn lint(file: &str, sql: &str, settings: &MigrationSettings) -> Findings {
    let mut findings = Findings::default();
    let operation = |line: Option<u32>, target: String, action: &str, reason: Option<String>| Operation {
        source: OperationSource::Migration,
        file: file.to_owned(),
        line,
        target,
        action: action.to_owned(),
        reason,
    };
    if sql.len() > MAX_MIGRATION_BYTES {
        findings.destructive.push(operation(
            None,
            "(whole file)".to_owned(),
            "unread migration",
            Some(format!(
                "larger than {} MiB, so it was not linted; it counts as destructive",
                MAX_MIGRATION_BYTES >> 20
            )),
        ));
        return findings;
    }
    // The parser recurses into parentheses: a file nested thousands deep would overflow the
    // stack and abort the process, so nesting is measured before parsing.
    if let Some(offset) = too_deep(sql) {
        findings.destructive.push(operation(
            Some(line_of(sql, offset)),
            "(whole file)".to_owned(),
            "unparsable migration",
            Some(format!(
                "parentheses nest more than {MAX_NESTING} deep here; a migration countersign cannot read counts as destructive"
            )),
        ));
        return findings;
    }
    let parse = squawk_syntax::SourceFile::parse(sql);
    if let Some(error) = parse.errors().first() {
        // A migration we cannot parse may drop anything; fail closed.
        let offset: usize = error.range().start().into();
        findings.destructive.push(operation(
            Some(line_of(sql, offset)),
            "(whole file)".to_owned(),
            "unparsable migration",
            Some(format!("{}; a migration countersign cannot read counts as destructive", error.message())),
        ));
        return findings;
    }
    let mut linter = Linter::from(DESTRUCTIVE.into_iter().chain(HAZARDS));
    linter.settings = LinterSettings {
        // policy.toml's validation admits only dotted digits here; squawk's default is the newest
        // version it knows, for which every rule is active.
        pg_version: settings
            .postgres_version
            .as_deref()
            .and_then(|version| version.parse::<Version>().ok())
            .unwrap_or_default(),
        assume_in_transaction: false,
    };
    let statements: Vec<(usize, usize)> = parse
        .tree()
        .stmts()
        .map(|statement| {
            let range = statement.syntax().text_range();
            (range.start().into(), range.end().into())
        })
        .collect();
    // A violation points at a keyword; the reviewer wants the whole statement.
    let statement_around = |offset: usize, end: usize| {
        let (start, end) = statements
            .iter()
            .copied()
            .find(|(start, stop)| *start <= offset && offset < *stop)
            .unwrap_or((offset, end));
        statement_text(sql, start, end)
    };
    let mut violations = linter.lint(&parse, sql);
    violations.sort_by_key(|violation| violation.text_range.start());
    for violation in violations {
        let start: usize = violation.text_range.start().into();
        let end: usize = violation.text_range.end().into();
        let line = Some(line_of(sql, start));
        let target = statement_around(start, end);
        let action = violation.code.to_string();
        let reason = Some(violation.message.to_string());
        if DESTRUCTIVE.contains(&violation.code) {
            findings.destructive.push(operation(line, target, &action, reason));
        } else {
            findings.hazards.push(operation(line, target, &action, reason));
        }
    }
    // What squawk does not object to but loses data, or hides what it does from any analysis.
    for statement in parse.tree().stmts() {
        let (action, reason) = match &statement {
            // squawk only objects to TRUNCATE … CASCADE; any TRUNCATE empties tables.
            ast::Stmt::Truncate(truncate)
                if !matches!(truncate.drop_behavior(), Some(ast::DropBehavior::Cascade(_))) =>
            {
                ("truncate", "TRUNCATE deletes every row of the tables")
            }
            ast::Stmt::Delete(delete) if delete.where_clause_or_current_of().is_none() => {
                ("delete without where", "a DELETE without WHERE deletes every row of the table")
            }
            ast::Stmt::Update(update) if update.where_clause_or_current_of().is_none() => {
                ("update without where", "an UPDATE without WHERE overwrites every row of the table")
            }
            ast::Stmt::Do(_) => (
                "unanalysable DO block",
                "a DO block runs procedural code (dynamic SQL, EXECUTE) that cannot be analysed; it counts as destructive",
            ),
            ast::Stmt::Call(_) | ast::Stmt::Execute(_) => (
                "unanalysable call",
                "CALL and EXECUTE run code defined elsewhere that cannot be analysed here; they count as destructive",
            ),
            _ => continue,
        };
        let range = statement.syntax().text_range();
        let start: usize = range.start().into();
        findings.destructive.push(operation(
            Some(line_of(sql, start)),
            statement_text(sql, start, range.end().into()),
            action,
            Some(reason.to_owned()),
        ));
    }
    findings.destructive.sort_by_key(|operation| operation.line);
    findings.hazards.sort_by_key(|operation| operation.line);
    findings
}

/// Parentheses (and brackets) a migration may nest; real SQL stays far below.
pub const MAX_NESTING: usize = 128;

/// Where nesting first goes deeper than [`MAX_NESTING`], if it does. Counted over the raw text,
/// so parentheses inside strings count too: an over-estimate only ever fails closed.
fn too_deep(sql: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (offset, byte) in sql.bytes().enumerate() {
        match byte {
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(offset);
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The flagged SQL on one line, shortened for a report.
fn statement_text(sql: &str, start: usize, end: usize) -> String {
    let text: String = sql.get(start..end).unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.trim_end_matches(';').trim_end();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text.to_owned()
    }
}
