//! Infrastructure plans: Terraform/OpenTofu `show -json`, Pulumi `preview --json` and CloudFormation
//! `describe-change-set` output. Each names what it would delete or replace; we read that with rules,
//! never guesses (reference/blast-radius.md §1). Unknown fields are tolerated; an unknown major
//! format version, an errored plan or an unknown action is an error or counts as destructive, never
//! as safe.

use countersign_core::model::{Operation, OperationSource};
use serde::Deserialize;
use serde_json::Value;

use crate::{AnalysisError, Findings};

/// Plans larger than this are refused rather than read into memory.
pub const MAX_PLAN_BYTES: usize = 512 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Terraform,
    Pulumi,
    CloudFormation,
}

impl PlanFormat {
    fn source(self) -> OperationSource {
        match self {
            PlanFormat::Terraform => OperationSource::Terraform,
            PlanFormat::Pulumi => OperationSource::Pulumi,
            PlanFormat::CloudFormation => OperationSource::Cloudformation,
        }
    }
}

/// What one plan file says.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanReport {
    pub format: PlanFormat,
    pub findings: Findings,
    /// Resources the plan creates, updates or leaves alone, for the summary line.
    pub other_changes: usize,
}

/// Reads a plan file of any supported format, recognised from its top-level keys.
pub fn read_plan(file: &str, text: &str) -> Result<PlanReport, AnalysisError> {
    if text.len() > MAX_PLAN_BYTES {
        return Err(AnalysisError::new(
            file,
            None,
            format!(
                "the plan is {} MiB, more than the {} MiB countersign reads",
                text.len() >> 20,
                MAX_PLAN_BYTES >> 20
            ),
            "split the plan per workspace or stack",
        ));
    }
    let value: Value = crate::strict_json::from_str(text).map_err(|error| {
        let what = if error.is_eof() { "the plan ends early (truncated file?)" } else { "the plan is not valid JSON" };
        AnalysisError::new(
            file,
            Some((error.line() as u32, error.column() as u32)),
            format!("{what}: {error}"),
            "pass the output of `terraform show -json PLAN`, `pulumi preview --json` or `aws cloudformation describe-change-set`",
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(unknown_format(file));
    };
    if object.contains_key("format_version")
        && (object.contains_key("resource_changes") || object.contains_key("terraform_version"))
    {
        terraform(file, value)
    } else if object.contains_key("steps") || object.contains_key("changeSummary") {
        pulumi(file, value)
    } else if object.contains_key("Changes")
        && (object.contains_key("ChangeSetId")
            || object.contains_key("StackName")
            || object.contains_key("ChangeSetName"))
    {
        cloudformation(file, value)
    } else {
        Err(unknown_format(file))
    }
}

fn unknown_format(file: &str) -> AnalysisError {
    AnalysisError::new(
        file,
        None,
        "not a Terraform/OpenTofu plan, Pulumi preview or CloudFormation change set".to_owned(),
        "pass the output of `terraform show -json PLAN`, `pulumi preview --json` or `aws cloudformation describe-change-set --output json`",
    )
}

fn shape_error(file: &str, format: &str, error: &serde_json::Error) -> AnalysisError {
    AnalysisError::new(
        file,
        None,
        format!("not a {format} plan countersign understands: {error}"),
        "pass the JSON exactly as the tool wrote it",
    )
}

fn operation(format: PlanFormat, file: &str, target: &str, action: &str, reason: Option<String>) -> Operation {
    Operation {
        source: format.source(),
        file: file.to_owned(),
        line: None,
        target: target.to_owned(),
        action: action.to_owned(),
        reason,
    }
}

/// An action this version does not know might destroy; it counts as destructive (fail closed).
fn unknown(format: PlanFormat, file: &str, target: &str, word: &str, name: &str) -> Operation {
    operation(
        format,
        file,
        target,
        &format!("unknown {word} {name}"),
        Some(format!("countersign does not know this {word}, so it counts as destructive")),
    )
}

#[derive(Deserialize)]
struct TerraformPlan {
    format_version: String,
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
    #[serde(default)]
    errored: bool,
    complete: Option<bool>,
}

#[derive(Deserialize)]
struct ResourceChange {
    address: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    deposed: Option<String>,
    change: TerraformChange,
    #[serde(default)]
    action_reason: Option<String>,
}

#[derive(Deserialize)]
struct TerraformChange {
    actions: Vec<String>,
    #[serde(default)]
    replace_paths: Vec<Vec<Value>>,
}

fn terraform(file: &str, value: Value) -> Result<PlanReport, AnalysisError> {
    let format = PlanFormat::Terraform;
    let plan: TerraformPlan = serde_json::from_value(value).map_err(|error| shape_error(file, "Terraform", &error))?;
    // 0.1 (Terraform 0.12–0.14) and 0.2 (0.15) have the same `resource_changes` as 1.x (1.0 on,
    // and OpenTofu), without `action_reason`, `errored` and `complete`.
    let mut version = plan.format_version.split('.');
    let supported = match (version.next(), version.next()) {
        (Some("1"), _) => true,
        (Some("0"), Some(minor)) => matches!(minor, "1" | "2"),
        _ => false,
    };
    if !supported {
        return Err(AnalysisError::new(
            file,
            None,
            format!("unsupported Terraform plan format_version {}", plan.format_version),
            "countersign reads formats 0.1, 0.2 and 1.x; upgrade countersign or render the plan with a Terraform \
             it supports",
        ));
    }
    if plan.errored {
        return Err(AnalysisError::new(
            file,
            None,
            "the plan errored, so it does not show everything the apply would do".to_owned(),
            "fix the plan errors and pass a plan that completed",
        ));
    }
    let mut findings = Findings::default();
    let mut other_changes = 0;
    if plan.complete == Some(false) {
        findings.hazards.push(operation(
            format,
            file,
            "(plan)",
            "incomplete plan",
            Some("some changes are deferred until after this apply".to_owned()),
        ));
    }
    for change in plan.resource_changes {
        // Reading a data source never changes infrastructure.
        if change.mode.as_deref() == Some("data") {
            other_changes += 1;
            continue;
        }
        let actions: Vec<&str> = change.change.actions.iter().map(String::as_str).collect();
        let target = match &change.deposed {
            Some(deposed) => format!("{} (deposed object {deposed})", change.address),
            None => change.address.clone(),
        };
        let reason = terraform_reason(change.action_reason.as_deref(), &change.change.replace_paths);
        let action = match actions.as_slice() {
            ["delete"] => Some("delete"),
            ["delete", "create"] => Some("replace (delete before create)"),
            ["create", "delete"] => Some("replace (create before delete)"),
            ["forget"] => {
                findings.hazards.push(operation(
                    format,
                    file,
                    &target,
                    "forget",
                    Some("leaves Terraform state; the object is no longer managed".to_owned()),
                ));
                continue;
            }
            ["no-op"] | ["create"] | ["read"] | ["update"] => None,
            other => {
                findings.destructive.push(unknown(format, file, &target, "action", &other.join("+")));
                continue;
            }
        };
        match action {
            Some(action) => findings.destructive.push(operation(format, file, &target, action, reason)),
            None => other_changes += 1,
        }
    }
    Ok(PlanReport { format, findings, other_changes })
}

fn terraform_reason(action_reason: Option<&str>, replace_paths: &[Vec<Value>]) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(reason) = action_reason {
        parts.push(
            match reason {
                "replace_because_tainted" => "the object is tainted",
                "replace_because_cannot_update" => "an attribute cannot be updated in place",
                "replace_by_request" => "replacement was requested (-replace)",
                "replace_by_triggers" => "replace_triggered_by fired",
                "delete_because_no_resource_config" => "its resource block was removed",
                "delete_because_no_module" => "its module was removed",
                "delete_because_wrong_repetition" => "count/for_each changed kind",
                "delete_because_count_index" => "its count index is out of range",
                "delete_because_each_key" => "its for_each key is gone",
                "delete_because_no_move_target" => "its moved target does not exist",
                other => other,
            }
            .to_owned(),
        );
    }
    if !replace_paths.is_empty() {
        let paths: Vec<String> = replace_paths
            .iter()
            .map(|path| {
                path.iter()
                    .map(|step| match step {
                        Value::String(name) => name.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        parts.push(format!("forced by {}", paths.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PulumiPreview {
    #[serde(default)]
    steps: Vec<PulumiStep>,
    #[serde(default)]
    change_summary: std::collections::BTreeMap<String, u64>,
}

/// Operations that destroy or replace, as Pulumi names them in steps and in its summary.
const PULUMI_DESTRUCTIVE: [&str; 6] =
    ["delete", "replace", "create-replacement", "delete-replaced", "remove-pending-replace", "import-replacement"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PulumiStep {
    op: String,
    urn: String,
    #[serde(default)]
    replace_reasons: Vec<String>,
    #[serde(default)]
    diff_reasons: Vec<String>,
    #[serde(default)]
    old_state: Option<PulumiState>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PulumiState {
    #[serde(default)]
    retain_on_delete: bool,
    #[serde(default)]
    protect: bool,
}

fn pulumi(file: &str, value: Value) -> Result<PlanReport, AnalysisError> {
    let format = PlanFormat::Pulumi;
    let preview: PulumiPreview = serde_json::from_value(value).map_err(|error| shape_error(file, "Pulumi", &error))?;
    let summarised: u64 = PULUMI_DESTRUCTIVE.iter().filter_map(|op| preview.change_summary.get(*op)).sum();
    if preview.steps.is_empty() && summarised > 0 {
        // The summary counts deletions the file does not name; we cannot show what would go.
        return Err(AnalysisError::new(
            file,
            None,
            format!("the preview's changeSummary counts {summarised} delete or replace operations but lists no steps"),
            "pass the full output of `pulumi preview --json`, which lists every step",
        ));
    }
    let mut findings = Findings::default();
    let mut other_changes = 0;
    for step in preview.steps {
        let action = match step.op.as_str() {
            "delete" | "delete-replaced" => "delete",
            "replace" | "create-replacement" => "replace",
            "remove-pending-replace" => "remove pending replacement",
            "import-replacement" => "replace by import",
            "discard" | "discard-replaced" => {
                findings.hazards.push(operation(
                    format,
                    file,
                    &step.urn,
                    "discard",
                    Some("leaves the stack; the resource is no longer managed".to_owned()),
                ));
                continue;
            }
            "same" | "create" | "update" | "read" | "read-replacement" | "refresh" | "import" => {
                other_changes += 1;
                continue;
            }
            other => {
                findings.destructive.push(unknown(format, file, &step.urn, "operation", other));
                continue;
            }
        };
        let mut reasons: Vec<String> = Vec::new();
        if !step.replace_reasons.is_empty() {
            reasons.push(format!("replaced because of {}", step.replace_reasons.join(", ")));
        } else if !step.diff_reasons.is_empty() && action != "delete" {
            reasons.push(format!("changes {}", step.diff_reasons.join(", ")));
        }
        let old_state = step.old_state.unwrap_or(PulumiState { retain_on_delete: false, protect: false });
        if old_state.protect {
            reasons.push("the resource is protected, so the update will fail unless protection is lifted".to_owned());
        }
        let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
        if old_state.retain_on_delete && action == "delete" {
            // The cloud resource survives; only Pulumi stops managing it.
            let reason = Some(format!(
                "retainOnDelete keeps the cloud resource{}",
                reason.map(|r| format!("; {r}")).unwrap_or_default()
            ));
            findings.hazards.push(operation(format, file, &step.urn, action, reason));
        } else {
            findings.destructive.push(operation(format, file, &step.urn, action, reason));
        }
    }
    Ok(PlanReport { format, findings, other_changes })
}

#[derive(Deserialize)]
struct ChangeSet {
    #[serde(rename = "Changes")]
    changes: Vec<ChangeSetEntry>,
    #[serde(rename = "Status", default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct ChangeSetEntry {
    #[serde(rename = "Type", default)]
    kind: Option<String>,
    #[serde(rename = "ResourceChange", default)]
    resource_change: Option<ResourceChangeCfn>,
}

#[derive(Deserialize)]
struct ResourceChangeCfn {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "LogicalResourceId")]
    logical_id: String,
    #[serde(rename = "PhysicalResourceId", default)]
    physical_id: Option<String>,
    #[serde(rename = "ResourceType", default)]
    resource_type: Option<String>,
    #[serde(rename = "Replacement", default)]
    replacement: Option<String>,
    #[serde(rename = "PolicyAction", default)]
    policy_action: Option<String>,
    #[serde(rename = "Details", default)]
    details: Vec<CfnDetail>,
}

#[derive(Deserialize)]
struct CfnDetail {
    #[serde(rename = "Target", default)]
    target: Option<CfnTarget>,
    #[serde(rename = "CausingEntity", default)]
    causing_entity: Option<String>,
}

#[derive(Deserialize)]
struct CfnTarget {
    #[serde(rename = "Name", default)]
    name: Option<String>,
    #[serde(rename = "RequiresRecreation", default)]
    requires_recreation: Option<String>,
}

fn cloudformation(file: &str, value: Value) -> Result<PlanReport, AnalysisError> {
    let format = PlanFormat::CloudFormation;
    let set: ChangeSet =
        serde_json::from_value(value).map_err(|error| shape_error(file, "CloudFormation change set", &error))?;
    if set.status.as_deref() == Some("FAILED") {
        return Err(AnalysisError::new(
            file,
            None,
            "the change set FAILED, so it does not show what an update would do".to_owned(),
            "pass a change set whose Status is CREATE_COMPLETE",
        ));
    }
    let mut findings = Findings::default();
    let mut other_changes = 0;
    for entry in set.changes {
        let Some(change) = entry.resource_change else { continue };
        if entry.kind.as_deref().is_some_and(|kind| kind != "Resource") {
            continue;
        }
        let target = match (&change.resource_type, &change.physical_id) {
            (Some(kind), Some(physical)) => format!("{} ({kind} {physical})", change.logical_id),
            (Some(kind), None) => format!("{} ({kind})", change.logical_id),
            _ => change.logical_id.clone(),
        };
        let policy = change.policy_action.as_deref().unwrap_or("");
        let causes: Vec<String> = change
            .details
            .iter()
            .filter_map(|detail| {
                let target = detail.target.as_ref()?;
                let requires = target.requires_recreation.as_deref()?;
                (requires != "Never").then(|| {
                    let name = target.name.as_deref().unwrap_or("a property");
                    match &detail.causing_entity {
                        Some(cause) => format!("{name} (recreation {requires}, caused by {cause})"),
                        None => format!("{name} (recreation {requires})"),
                    }
                })
            })
            .collect();
        let mut reason = (!causes.is_empty()).then(|| format!("changes {}", causes.join(", ")));
        if !policy.is_empty() {
            let policy_note = format!("policy action {policy}");
            reason = Some(reason.map_or(policy_note.clone(), |reason| format!("{reason}; {policy_note}")));
        }
        let replacement = change.replacement.as_deref();
        let action = match change.action.as_str() {
            "Remove" if policy == "Retain" => {
                findings.hazards.push(operation(format, file, &target, "remove (retained)", reason));
                continue;
            }
            "Remove" => "delete",
            "Modify" | "Dynamic" if replacement == Some("True") => "replace",
            "Modify" | "Dynamic" if replacement == Some("Conditional") => "replace (conditional)",
            _ if policy.contains("Delete") => "delete (policy action)",
            "Add" | "Modify" | "Import" | "Dynamic" => {
                other_changes += 1;
                continue;
            }
            other => {
                findings.destructive.push(unknown(format, file, &target, "action", other));
                continue;
            }
        };
        findings.destructive.push(operation(format, file, &target, action, reason));
    }
    Ok(PlanReport { format, findings, other_changes })
}
