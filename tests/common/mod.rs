//! Shared helpers for integration tests that need a real peer (OpenSSL, libsrtp, aiortc,
//! Chromium, coturn).
//!
//! `.ci/run` installs the peers; a test whose peer is missing fails loudly when `CI=true` and is
//! skipped with a printed reason otherwise.
#![allow(dead_code)]

pub mod aiortc;
pub mod browser;
pub mod chromium;
pub mod firefox;
pub mod json_lines;
pub mod kaon_peer;
pub mod netns;

use std::path::PathBuf;

/// Whether we run under CI (`CI=true`), where a missing peer is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Call when a real peer is missing: panics in CI, otherwise prints why the test is skipped.
/// Returns `false` so tests can `if !peer_available(..) { return; }`.
pub fn missing_peer(test: &str, what: &str) -> bool {
    assert!(
        !in_ci(),
        "{test}: required peer missing in CI: {what} (.ci/run should install it)"
    );
    eprintln!("skipping {test}: {what} not found (install it or run .ci/run)");
    false
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter of the venv `.ci/run` creates (`.ci/venv`, or `$KAON_VENV`), if it
/// exists and can import `module`.
pub fn venv_python(module: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("KAON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".ci/venv"));
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// The path of an executable on `PATH`, if present.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
