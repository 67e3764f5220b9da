//! Kubernetes manifests: an object present before the change and gone after it will be deleted by
//! whatever prunes (Argo CD, Flux, `kubectl apply --prune`). Deleting a workload, namespace, volume
//! or CRD loses running service or data; deleting anything else is a hazard.

use std::collections::BTreeMap;

use countersign_core::model::{Operation, OperationSource};
use serde_json::Value;

use crate::Findings;

/// Manifests larger than this are not parsed.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// One Kubernetes object, identified as the API server identifies it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One YAML file of the change: its path and its text before and after (`None` when absent).
pub struct ManifestFile<'a> {
    pub path: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

/// Objects defined before the change in any of the files and defined after it in none of them.
/// Comparing across all files lets an object move between files without counting as deleted.
pub fn deleted_objects(files: &[ManifestFile<'_>], destructive_kinds: &[String]) -> Findings {
    let mut findings = Findings::default();
    let mut before: BTreeMap<ObjectKey, String> = BTreeMap::new();
    let mut after: BTreeMap<ObjectKey, String> = BTreeMap::new();
    for file in files {
        let mut unreadable = false;
        for (text, objects) in [(file.before, &mut before), (file.after, &mut after)] {
            let Some(text) = text else { continue };
            match objects_of(text) {
                Ok(keys) => {
                    for key in keys {
                        objects.entry(key).or_insert_with(|| file.path.to_owned());
                    }
                }
                Err(why) => {
                    unreadable = true;
                    findings.notes.push(format!("{}: not read as Kubernetes manifests: {why}", file.path));
                }
            }
        }
        if unreadable {
            removed_template_kinds(file, destructive_kinds, &mut findings);
        }
    }
    for (key, path) in before {
        if after.contains_key(&key) {
            continue;
        }
        let operation = Operation {
            source: OperationSource::Kubernetes,
            file: path,
            line: None,
            target: key.to_string(),
            action: "delete".to_owned(),
            reason: Some("the manifest no longer defines it, so a prune deletes it".to_owned()),
        };
        if destructive_kinds.contains(&key.kind) {
            findings.destructive.push(operation);
        } else {
            findings.hazards.push(operation);
        }
    }
    findings
}

/// A file that is not plain YAML (a Helm template, say) is still read line by line for the kinds
/// it declares: a kind declared before the change and no longer after it (the template was
/// removed or emptied) deletes its objects when rendered, rendered here or not.
fn removed_template_kinds(file: &ManifestFile<'_>, destructive_kinds: &[String], findings: &mut Findings) {
    let before = declared_kinds(file.before.unwrap_or(""));
    let mut after = declared_kinds(file.after.unwrap_or(""));
    for (line, kind) in before {
        if let Some(position) = after.iter().position(|(_, other)| *other == kind) {
            after.remove(position);
            continue;
        }
        let operation = Operation {
            source: OperationSource::Kubernetes,
            file: file.path.to_owned(),
            line: Some(line),
            target: format!("{kind} (templated)"),
            action: "delete".to_owned(),
            reason: Some("the template no longer declares it, so its rendered objects are deleted".to_owned()),
        };
        if destructive_kinds.contains(&kind) {
            findings.destructive.push(operation);
        } else {
            findings.hazards.push(operation);
        }
    }
}

/// `kind: X` lines at the top level of a document, with their line (from 1).
fn declared_kinds(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(idx, line)| {
            let value = line.strip_prefix("kind:")?.split('#').next()?.trim().trim_matches(['"', '\'']);
            let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric());
            plain.then(|| (u32::try_from(idx + 1).unwrap_or(u32::MAX), value.to_owned()))
        })
        .collect()
}

/// The objects a YAML stream defines; documents that are not Kubernetes objects are skipped.
fn objects_of(text: &str) -> Result<Vec<ObjectKey>, String> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(format!("larger than {} MiB", MAX_MANIFEST_BYTES >> 20));
    }
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|error| {
        let message = error.to_string();
        message.lines().next().unwrap_or("invalid YAML").to_owned()
    })?;
    let mut keys = Vec::new();
    for document in &documents {
        collect(document, &mut keys);
    }
    Ok(keys)
}

fn collect(document: &Value, keys: &mut Vec<ObjectKey>) {
    let Some(object) = document.as_object() else { return };
    let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
    let (Some(_api_version), Some(kind)) = (text(object.get("apiVersion")), text(object.get("kind"))) else {
        return;
    };
    // `kind: List` (and `FooList`) wraps objects in `items`; a custom kind that merely ends in
    // `List` and has no items is an object like any other.
    if let Some(items) = object.get("items").and_then(Value::as_array).filter(|_| kind.ends_with("List")) {
        for item in items {
            collect(item, keys);
        }
        return;
    }
    let metadata = object.get("metadata");
    let Some(name) = text(metadata.and_then(|metadata| metadata.get("name"))) else { return };
    let namespace = text(metadata.and_then(|metadata| metadata.get("namespace")));
    keys.push(ObjectKey { kind, namespace, name });
}
