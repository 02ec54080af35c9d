//! The Jenkins shared library's Groovy suite (`tests/groovy/run.sh`) as part of `cargo test`:
//! compile checks with Groovy 2.4.21, CodeNarc, the step unit tests and the end-to-end pipeline
//! test. It needs the Debian packages `groovy` and `libcodenarc-groovy-java` (the Makefile's deps
//! install them) and fails, saying so, when they are missing.

use gitops_tests::toolkit_root;
use std::process::Command;

#[test]
fn groovy_suite_passes() {
    let root = toolkit_root();
    let groovy_found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("groovy").is_file()))
        .unwrap_or(false);
    assert!(
        groovy_found,
        "groovy is not installed: the Jenkins shared library tests need the Debian packages \
         groovy and libcodenarc-groovy-java (make test installs them)"
    );
    // The end-to-end pipeline test runs the binaries of target/debug: build them now (the
    // scenario skips, rather than fails, when one is missing).
    for name in [
        "gitops-render",
        "gitops-plan",
        "gitops-apply",
        "gitops-tag",
        "gitops-certify",
        "gitops-rollback",
        "gitops-destroy",
        "gitops-report",
        "gitops-review",
        "vault-dev",
        "die-with-parent",
    ] {
        gitops_tests::bin(name);
    }
    let out = Command::new("bash")
        .arg(root.join("tests/groovy/run.sh"))
        .current_dir(&root)
        .output()
        .expect("run tests/groovy/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown with --nocapture, and on failure below.
    println!("{stdout}");
    assert!(
        out.status.success(),
        "tests/groovy/run.sh failed (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("");
    assert!(
        summary.contains(" 0 failed"),
        "no passing summary line from tests/groovy/run.sh:\n{stdout}"
    );
}
