//! The crate-dependency rules of ARCHITECTURE.md, checked against
//! `cargo metadata`. Normal and build dependencies count; dev-dependencies
//! (test fixtures) do not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// (crate, forbidden workspace crates (transitively), forbidden external crates (directly))
const RULES: &[(&str, &[&str], &[&str])] = &[
    (
        "spoor-model",
        &[
            "spoor-proto",
            "spoor-codec",
            "spoor-storage",
            "spoor-engine",
            "spoor-service",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &[
            "tokio",
            "prost",
            "tonic",
            "axum",
            "object_store",
            "serde_json",
        ],
    ),
    (
        "spoor-proto",
        &[
            "spoor-model",
            "spoor-codec",
            "spoor-storage",
            "spoor-engine",
            "spoor-service",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["tokio", "axum"],
    ),
    (
        "spoor-codec",
        &[
            "spoor-storage",
            "spoor-engine",
            "spoor-service",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["tokio", "axum", "tonic", "object_store"],
    ),
    (
        "spoor-storage",
        &[
            "spoor-proto",
            "spoor-codec",
            "spoor-engine",
            "spoor-service",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["prost", "tonic", "axum", "object_store"],
    ),
    (
        "spoor-engine",
        &[
            "spoor-proto",
            "spoor-codec",
            "spoor-service",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["prost", "tonic", "axum"],
    ),
    (
        "spoor-service",
        &[
            "spoor-proto",
            "spoor-codec",
            "spoor-engine",
            "spoor-server",
            "spoor-ui",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["prost", "tonic", "axum", "object_store", "serde_json"],
    ),
    (
        "spoor-server",
        &["spoor-engine", "spoor-tools", "spoor"],
        &["object_store"],
    ),
    (
        "spoor-client",
        &[
            "spoor-engine",
            "spoor-server",
            "spoor-ui",
            "spoor-tools",
            "spoor",
        ],
        &["axum", "object_store"],
    ),
    (
        "spoor-tools",
        &["spoor"],
        // Requests go through spoor-client (one client, one sender, one
        // retry policy); the engine is opened directly for `--data-dir`.
        &["axum", "object_store", "tonic", "hyper", "hyper-util"],
    ),
    (
        "spoor-ui",
        &[
            "spoor-model",
            "spoor-proto",
            "spoor-codec",
            "spoor-storage",
            "spoor-engine",
            "spoor-service",
            "spoor-server",
            "spoor-client",
            "spoor-tools",
            "spoor",
        ],
        &["tokio", "axum", "tonic", "prost"],
    ),
];

struct Workspace {
    /// crate → its normal/build dependencies (names)
    deps: BTreeMap<String, BTreeSet<String>>,
}

fn load() -> Workspace {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut deps = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap().to_string();
        let set: BTreeSet<String> = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        deps.insert(name, set);
    }
    Workspace { deps }
}

impl Workspace {
    /// Workspace crates reachable from `name` through normal/build dependencies.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(n) = stack.pop() {
            for d in self.deps.get(&n).into_iter().flatten() {
                if self.deps.contains_key(d) && seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn crate_dependency_rules_hold() {
    let ws = load();
    let mut violations = Vec::new();
    for (krate, banned_ws, banned_ext) in RULES {
        let Some(direct) = ws.deps.get(*krate) else {
            // A crate of the brief that does not exist yet (e.g. the engine) has nothing to check.
            continue;
        };
        let reach = ws.closure(krate);
        for b in *banned_ws {
            if reach.contains(*b) {
                violations.push(format!(
                    "{krate} depends on {b} (directly or through another spoor crate)"
                ));
            }
        }
        for b in *banned_ext {
            if direct.contains(*b) {
                violations.push(format!("{krate} depends directly on {b}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "architecture rules broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_workspace_crate_has_a_rule_or_is_the_binary() {
    let ws = load();
    for name in ws.deps.keys() {
        assert!(
            name == "spoor" || RULES.iter().any(|(k, _, _)| k == name),
            "crate {name} has no dependency rule in tests/architecture.rs and ARCHITECTURE.md"
        );
    }
}

#[test]
fn the_checker_catches_a_forbidden_edge() {
    // Guard against a checker that can never fail: a synthetic workspace
    // where the model imports the codec must be flagged.
    let mut deps = BTreeMap::new();
    deps.insert(
        "spoor-model".to_string(),
        BTreeSet::from(["spoor-codec".to_string()]),
    );
    deps.insert("spoor-codec".to_string(), BTreeSet::new());
    let ws = Workspace { deps };
    assert!(ws.closure("spoor-model").contains("spoor-codec"));
}
