//! Keeps the crate layering honest: every crate sits on a layer (ARCHITECTURE.md), and a crate
//! may depend only on crates of a lower layer. Also checks that every crate but berth-sys
//! inherits the workspace lints (which deny `unsafe`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer of every crate; a new crate must be added here (and to ARCHITECTURE.md).
const LAYERS: [(&str, u8); 21] = [
    ("berth-types", 0),
    ("berth-sys", 0),
    ("berth-api", 1),
    ("berth-content", 1),
    ("berth-cgroups", 1),
    ("berth-template", 1),
    ("berth-distribution", 1),
    ("berth-client", 2),
    ("berth-snapshot", 2),
    ("berth-runtime", 2),
    ("berth-init", 2),
    ("berth-network", 2),
    ("berth-builder", 2),
    ("berth-image", 3),
    ("berth-shim", 3),
    ("berth-registry", 3),
    ("berth-server", 4),
    ("berth-engine", 4),
    ("berthd", 5),
    ("berth-cli", 5),
    ("berth-conformance", 6),
];

/// Test support may be used by any crate, as a dev-dependency only.
const TEST_ONLY: [&str; 1] = ["berth-testutil"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// (crate name, manifest text) for every crate under crates/.
fn manifests() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join("crates")).unwrap() {
        let path = entry.unwrap().path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .map(|n| n.trim_matches('"').to_string())
                .unwrap();
            found.push((name, text));
        }
    }
    found
}

/// The `berth*` dependencies named in one `[section]` of a manifest.
fn internal_deps(manifest: &str, section: &str) -> Vec<String> {
    let mut in_section = false;
    let mut deps = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == section;
            continue;
        }
        if in_section {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            if name.starts_with("berth") {
                deps.push(name.to_string());
            }
        }
    }
    deps
}

#[test]
fn crates_import_only_downward() {
    let layers: BTreeMap<&str, u8> = LAYERS.into_iter().collect();
    let mut violations = Vec::new();
    for (name, manifest) in manifests() {
        if TEST_ONLY.contains(&name.as_str()) {
            continue;
        }
        let Some(&own) = layers.get(name.as_str()) else {
            violations.push(format!(
                "{name} has no layer: add it to LAYERS and ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in internal_deps(&manifest, "[dependencies]") {
            if TEST_ONLY.contains(&dep.as_str()) && name != "berth-conformance" {
                violations.push(format!(
                    "{name} uses test support {dep} outside dev-dependencies"
                ));
                continue;
            }
            match layers.get(dep.as_str()) {
                Some(&theirs) if theirs < own => {}
                Some(&theirs) => {
                    violations.push(format!("{name} (L{own}) imports {dep} (L{theirs})"))
                }
                None if TEST_ONLY.contains(&dep.as_str()) => {}
                None => violations.push(format!("{name} imports {dep}, which has no layer")),
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_crate_but_the_syscall_crate_denies_unsafe() {
    for (name, manifest) in manifests() {
        if name == "berth-sys" {
            assert!(
                manifest.contains("unsafe_code = \"allow\""),
                "berth-sys must say it allows unsafe"
            );
            continue;
        }
        let inherits = manifest
            .split("[lints]")
            .nth(1)
            .is_some_and(|rest| rest.trim_start().starts_with("workspace = true"));
        assert!(
            inherits,
            "{name} must inherit the workspace lints ([lints] workspace = true)"
        );
    }
    let root = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    assert!(root.contains("unsafe_code = \"deny\""));
}

#[test]
fn the_checker_sees_a_violation() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nberth-engine.workspace = true\nserde = \"1\"\n[dev-dependencies]\nberth-testutil = { path = \"..\" }\n";
    assert_eq!(
        internal_deps(manifest, "[dependencies]"),
        vec!["berth-engine"]
    );
    assert_eq!(
        internal_deps(manifest, "[dev-dependencies]"),
        vec!["berth-testutil"]
    );
}
