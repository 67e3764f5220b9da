use countersign_blast::kubernetes::{ManifestFile, deleted_objects};
use countersign_core::policy::DEFAULT_DESTRUCTIVE_KINDS;

use crate::lines;

const DEPLOYMENT: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: checkout\n  namespace: shop\nspec:\n  replicas: 3\n";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: checkout\n  namespace: shop\n";
const VOLUME_CLAIM: &str =
    "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: orders-data\n  namespace: shop\n";

fn check(files: &[(&str, Option<&str>, Option<&str>)], expected: &[&str]) {
    let files: Vec<ManifestFile<'_>> =
        files.iter().map(|(path, before, after)| ManifestFile { path, before: *before, after: *after }).collect();
    let kinds: Vec<String> = DEFAULT_DESTRUCTIVE_KINDS.iter().map(|kind| (*kind).to_owned()).collect();
    assert_eq!(lines(&deleted_objects(&files, &kinds)), expected);
}

#[test]
fn deleted_workload_is_destructive() {
    check(
        &[("deploy/checkout.yaml", Some(DEPLOYMENT), None)],
        &[
            "destructive deploy/checkout.yaml Deployment shop/checkout | delete | the manifest no longer defines it, so a prune deletes it",
        ],
    );
}

#[test]
fn document_removed_from_a_stream() {
    let before = format!("{DEPLOYMENT}---\n{SERVICE}---\n{VOLUME_CLAIM}");
    let after = format!("{DEPLOYMENT}---\n# the service moved to the mesh\n");
    check(
        &[("deploy/shop.yaml", Some(&before), Some(&after))],
        &[
            "destructive deploy/shop.yaml PersistentVolumeClaim shop/orders-data | delete | the manifest no longer defines it, so a prune deletes it",
            "hazard deploy/shop.yaml Service shop/checkout | delete | the manifest no longer defines it, so a prune deletes it",
        ],
    );
}

#[test]
fn moving_an_object_between_files_deletes_nothing() {
    check(
        &[("deploy/old.yaml", Some(DEPLOYMENT), None), ("deploy/checkout/deployment.yml", None, Some(DEPLOYMENT))],
        &[],
    );
}

#[test]
fn renamed_namespace_and_crd() {
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments\n";
    let renamed = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: payments-v2\n";
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: refunds.shop.example\n";
    check(
        &[("ns.yaml", Some(namespace), Some(renamed)), ("crds/refunds.yaml", Some(crd), None)],
        &[
            "destructive crds/refunds.yaml CustomResourceDefinition refunds.shop.example | delete | the manifest no longer defines it, so a prune deletes it",
            "destructive ns.yaml Namespace payments | delete | the manifest no longer defines it, so a prune deletes it",
        ],
    );
}

#[test]
fn list_items_are_objects() {
    let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: apps/v1\n    kind: StatefulSet\n    metadata:\n      name: db\n";
    check(
        &[("all.yaml", Some(list), Some("apiVersion: v1\nkind: List\nitems: []\n"))],
        &["destructive all.yaml StatefulSet db | delete | the manifest no longer defines it, so a prune deletes it"],
    );
}

#[test]
fn a_custom_kind_ending_in_list_is_an_object() {
    let allow_list = "apiVersion: shop.example/v1\nkind: AllowList\nmetadata:\n  name: partners\n";
    check(
        &[("policy/allow.yaml", Some(allow_list), None)],
        &[
            "hazard policy/allow.yaml AllowList partners | delete | the manifest no longer defines it, so a prune deletes it",
        ],
    );
}

#[test]
fn other_yaml_is_not_objects_but_a_removed_template_still_deletes() {
    const TEMPLATE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }\n";
    check(
        &[
            (".github/workflows/ci.yml", Some("name: ci\non: [push]\njobs: {}\n"), None),
            ("chart/templates/deployment.yaml", Some(TEMPLATE), None),
        ],
        &[
            "destructive chart/templates/deployment.yaml:2 Deployment (templated) | delete | the template no longer declares it, so its rendered objects are deleted",
            "note chart/templates/deployment.yaml: not read as Kubernetes manifests: error: line 4 column 9: unclosed bracket '{'",
        ],
    );
    // Emptied rather than removed: the same.
    check(
        &[("chart/templates/deployment.yaml", Some(TEMPLATE), Some("{{- /* moved to another chart */ -}}\n"))],
        &[
            "destructive chart/templates/deployment.yaml:2 Deployment (templated) | delete | the template no longer declares it, so its rendered objects are deleted",
            "note chart/templates/deployment.yaml: not read as Kubernetes manifests: error: line 4 column 9: unclosed bracket '{'",
            "note chart/templates/deployment.yaml: not read as Kubernetes manifests: error: line 1 column 3: \"-\" is only valid inside a block",
        ],
    );
    // A template still declaring its kind after an edit deletes nothing.
    check(
        &[("chart/templates/deployment.yaml", Some(TEMPLATE), Some(&TEMPLATE.replace("apps/v1", "apps/v1 ")))],
        &[
            "note chart/templates/deployment.yaml: not read as Kubernetes manifests: error: line 4 column 9: unclosed bracket '{'",
            "note chart/templates/deployment.yaml: not read as Kubernetes manifests: error: line 4 column 9: unclosed bracket '{'",
        ],
    );
}
