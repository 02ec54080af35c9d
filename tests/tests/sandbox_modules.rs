//! Every sandbox module's own `terraform test` files pass at both published versions, taken from the
//! tagged module repositories that make-example.sh creates (so the tags are what is tested).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{git_in, module_test_failures, Example, MODULES};
use std::path::Path;

#[test]
fn module_tests_pass_at_v1_0_0_and_v1_1_0() {
    let ex = Example::new();
    let mut jobs = Vec::new();
    for m in MODULES {
        for v in ["v1.0.0", "v1.1.0"] {
            let dir = ex.dir.path().join("checkouts").join(format!("{m}-{v}"));
            git_in(
                ex.dir.path(),
                &[
                    "clone",
                    "-q",
                    "--branch",
                    v,
                    ex.modules().join(m).to_str().unwrap(),
                    dir.to_str().unwrap(),
                ],
            );
            jobs.push((m, v, dir));
        }
    }
    // Interfaces differ between the versions: 1.1.0 adds inputs.
    let vars = |dir: &std::path::Path| std::fs::read_to_string(dir.join("variables.tf")).unwrap();
    assert!(
        !vars(&jobs[2].2).contains("tls_policy") && vars(&jobs[3].2).contains("tls_policy"),
        "load-balancer 1.1.0 adds tls_policy"
    );

    let failures = module_test_failures(&jobs, Path::new("/dev/null"), &|_, _, _| {});
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
