use countersign_blast::migration::{MigrationSettings, lint};

/// Each operation as `destructive|hazard <line> <action> <statement>`; reasons are squawk's.
fn check(sql: &str, expected: &[&str]) {
    let findings =
        lint("migrations/0042_change.sql", sql, &MigrationSettings { postgres_version: Some("15".to_owned()) });
    let actual: Vec<String> = findings
        .destructive
        .iter()
        .map(|op| ("destructive", op))
        .chain(findings.hazards.iter().map(|op| ("hazard", op)))
        .map(|(kind, op)| {
            assert!(op.reason.as_deref().is_some_and(|reason| !reason.is_empty()), "{op:?} has a reason");
            format!("{kind} {} {} {}", op.line.unwrap_or(0), op.action, op.target)
        })
        .collect();
    assert_eq!(actual, expected, "{sql}");
}

#[test]
fn safe_migration_is_clean() {
    check(
        "CREATE TABLE refunds (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount_cents bigint NOT NULL);\n\
         ALTER TABLE orders ADD COLUMN note text;\n\
         CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\n",
        &[],
    );
}

#[test]
fn dropped_table() {
    check("DROP TABLE legacy_orders;\n", &["destructive 1 ban-drop-table DROP TABLE legacy_orders"]);
}

#[test]
fn dropped_column() {
    check(
        "-- remove the old flag\nALTER TABLE orders DROP COLUMN is_paid;\n",
        &["destructive 2 ban-drop-column ALTER TABLE orders DROP COLUMN is_paid"],
    );
}

#[test]
fn dropped_schema_and_database() {
    check(
        "DROP SCHEMA reporting CASCADE;\nDROP DATABASE analytics;\n",
        &[
            "destructive 1 ban-drop-schema DROP SCHEMA reporting CASCADE",
            "destructive 2 ban-drop-database DROP DATABASE analytics",
        ],
    );
}

#[test]
fn truncates_with_and_without_cascade() {
    check(
        "TRUNCATE sessions;\nTRUNCATE carts CASCADE;\n",
        &["destructive 1 truncate TRUNCATE sessions", "destructive 2 ban-truncate-cascade TRUNCATE carts CASCADE"],
    );
}

#[test]
fn type_change_and_renames() {
    check(
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);\n\
         ALTER TABLE orders RENAME COLUMN total TO total_amount;\n\
         ALTER TABLE orders RENAME TO purchases;\n",
        &[
            "destructive 1 changing-column-type ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2)",
            "destructive 2 renaming-column ALTER TABLE orders RENAME COLUMN total TO total_amount",
            "destructive 3 renaming-table ALTER TABLE orders RENAME TO purchases",
        ],
    );
}

#[test]
fn locking_hazards() {
    check(
        "CREATE INDEX orders_customer_idx ON orders (customer_id);\n\
         ALTER TABLE orders ADD COLUMN region text NOT NULL;\n\
         ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n",
        &[
            "hazard 1 require-concurrent-index-creation CREATE INDEX orders_customer_idx ON orders (customer_id)",
            "hazard 2 adding-required-field ALTER TABLE orders ADD COLUMN region text NOT NULL",
            "hazard 3 constraint-missing-not-valid ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)",
            "hazard 3 adding-foreign-key-constraint ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)",
        ],
    );
}

#[test]
fn unparsable_migration_fails_closed() {
    check("ALTER TABLE orders DROP COLUMN;\n", &["destructive 1 unparsable migration (whole file)"]);
}
