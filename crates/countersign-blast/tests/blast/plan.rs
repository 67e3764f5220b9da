use countersign_blast::plan::{PlanFormat, read_plan};

use crate::lines;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/blast/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn check(name: &str, format: PlanFormat, other_changes: usize, expected: &[&str]) {
    let report = read_plan(name, &fixture(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert_eq!(report.format, format, "{name}");
    assert_eq!(lines(&report.findings), expected, "{name}");
    assert_eq!(report.other_changes, other_changes, "{name}: other changes");
}

fn check_error(name: &str, text: &str, expected: &str) {
    let error = read_plan(name, text).expect_err(name);
    assert_eq!(error.to_string(), expected, "{name}");
    assert!(!error.help.is_empty(), "{name}: every error says what to do");
}

#[test]
fn terraform_replace_by_taint() {
    check(
        "tf-replace-tainted.json",
        PlanFormat::Terraform,
        1,
        &[
            "destructive tf-replace-tainted.json aws_instance.web | replace (delete before create) | the object is tainted",
        ],
    );
}

#[test]
fn terraform_create_before_destroy_names_the_forcing_attributes() {
    check(
        "tf-create-before-destroy.json",
        PlanFormat::Terraform,
        0,
        &[
            "destructive tf-create-before-destroy.json module.db.aws_db_instance.main | replace (create before delete) | an attribute cannot be updated in place; forced by engine_version, storage.0.type",
        ],
    );
}

#[test]
fn terraform_delete_deposed_and_data_source_read() {
    check(
        "tf-delete-and-read.json",
        PlanFormat::Terraform,
        1,
        &[
            "destructive tf-delete-and-read.json aws_s3_bucket.logs[\"eu\"] | delete | its for_each key is gone",
            "destructive tf-delete-and-read.json aws_instance.old (deposed object 00000001) | delete | -",
        ],
    );
}

#[test]
fn terraform_forget_is_a_hazard_not_a_deletion() {
    check(
        "tf-forget.json",
        PlanFormat::Terraform,
        0,
        &[
            "hazard tf-forget.json aws_iam_role.legacy | forget | leaves Terraform state; the object is no longer managed",
        ],
    );
}

#[test]
fn terraform_no_op_only_plan_is_clean() {
    check("tf-noop.json", PlanFormat::Terraform, 2, &[]);
}

#[test]
fn terraform_unknown_action_counts_as_destructive() {
    check(
        "tf-unknown-action.json",
        PlanFormat::Terraform,
        0,
        &[
            "destructive tf-unknown-action.json aws_instance.x | unknown action obliterate | countersign does not know this action, so it counts as destructive",
        ],
    );
}

#[test]
fn pulumi_deletes_and_replacements() {
    check(
        "pulumi-preview.json",
        PlanFormat::Pulumi,
        2,
        &[
            "destructive pulumi-preview.json urn:pulumi:prod::shop::aws:rds/instance:Instance::orders | replace | replaced because of engine, dbName",
            "destructive pulumi-preview.json urn:pulumi:prod::shop::aws:rds/instance:Instance::orders | replace | -",
            "destructive pulumi-preview.json urn:pulumi:prod::shop::aws:s3/bucket:Bucket::assets | delete | -",
            "hazard pulumi-preview.json urn:pulumi:prod::shop::aws:s3/bucket:Bucket::archive | delete | retainOnDelete keeps the cloud resource",
            "hazard pulumi-preview.json urn:pulumi:prod::shop::aws:iam/role:Role::legacy | discard | leaves the stack; the resource is no longer managed",
        ],
    );
}

#[test]
fn cloudformation_removals_replacements_and_policies() {
    check(
        "cfn-change-set.json",
        PlanFormat::CloudFormation,
        2,
        &[
            "destructive cfn-change-set.json OrdersTable (AWS::DynamoDB::Table shop-orders) | delete | policy action Delete",
            "destructive cfn-change-set.json Database (AWS::RDS::DBInstance shop-db) | replace | changes Engine (recreation Always)",
            "destructive cfn-change-set.json Queue (AWS::SQS::Queue) | replace (conditional) | changes QueueName (recreation Conditionally, caused by QueueNameParam)",
            "hazard cfn-change-set.json LogsBucket (AWS::S3::Bucket) | remove (retained) | policy action Retain",
        ],
    );
}

#[test]
fn terraform_0_12_to_0_15_plans_are_read() {
    check(
        "tf-0.12-format-0.1.json",
        PlanFormat::Terraform,
        2,
        &[
            "destructive tf-0.12-format-0.1.json aws_db_instance.main | delete | -",
            "destructive tf-0.12-format-0.1.json aws_instance.web | replace (delete before create) | -",
        ],
    );
    check(
        "tf-0.15-format-0.2.json",
        PlanFormat::Terraform,
        1,
        &[
            "destructive tf-0.15-format-0.2.json module.cache.aws_elasticache_cluster.this[0] | replace (create before delete) | -",
        ],
    );
}

#[test]
fn opentofu_plans_are_read() {
    check(
        "tofu-1.8.json",
        PlanFormat::Terraform,
        0,
        &[
            "destructive tofu-1.8.json aws_dynamodb_table.orders | delete | its resource block was removed",
            "hazard tofu-1.8.json aws_sqs_queue.events | forget | leaves Terraform state; the object is no longer managed",
        ],
    );
}

#[test]
fn bad_plans_are_errors_never_allows() {
    check_error(
        "tf-truncated.json",
        &fixture("tf-truncated.json"),
        "tf-truncated.json:11:55: the plan ends early (truncated file?): EOF while parsing a string at line 11 column 55",
    );
    check_error(
        "tf-format-2.json",
        &fixture("tf-format-2.json"),
        "tf-format-2.json: unsupported Terraform plan format_version 2.0",
    );
    check_error(
        "tf-format-0.3.json",
        r#"{"format_version": "0.3", "terraform_version": "0.16.0", "resource_changes": []}"#,
        "tf-format-0.3.json: unsupported Terraform plan format_version 0.3",
    );
    check_error(
        "tf-errored.json",
        &fixture("tf-errored.json"),
        "tf-errored.json: the plan errored, so it does not show everything the apply would do",
    );
    check_error(
        "list.json",
        "[1, 2]",
        "list.json: not a Terraform/OpenTofu plan, Pulumi preview or CloudFormation change set",
    );
    check_error(
        "other.json",
        r#"{"hello": "world"}"#,
        "other.json: not a Terraform/OpenTofu plan, Pulumi preview or CloudFormation change set",
    );
    check_error(
        "plan.txt",
        "Plan: 1 to add, 0 to change, 1 to destroy.",
        "plan.txt:1:1: the plan is not valid JSON: expected value at line 1 column 1",
    );
    check_error(
        "bad-shape.json",
        r#"{"format_version": "1.2", "terraform_version": "1.9", "resource_changes": [{"address": 7}]}"#,
        "bad-shape.json: not a Terraform plan countersign understands: invalid type: integer `7`, expected a string",
    );
    check_error(
        "pulumi-summary-only.json",
        r#"{"changeSummary": {"same": 3, "delete": 2}}"#,
        "pulumi-summary-only.json: the preview's changeSummary counts 2 delete or replace operations but lists no steps",
    );
    check_error(
        "cfn-failed.json",
        r#"{"StackName": "s", "Status": "FAILED", "Changes": []}"#,
        "cfn-failed.json: the change set FAILED, so it does not show what an update would do",
    );
}
