//! Every AWS reference module's own `terraform test` files (mock provider: no AWS endpoint) pass
//! at both versions: v1.1.0 is `modules/aws/<module>`, v1.0.0 the same tree with
//! `modules/aws/v1.1.0.patch` reversed, as for the sandbox modules. Needs the real `hashicorp/aws`
//! provider in a filesystem mirror (the machine image has it); skips with one line where absent.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{
    aws_cli_config, aws_provider_mirror, module_test_failures, stderr, toolkit_root, MODULES,
};
use std::path::Path;
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name == ".terraform" || name == ".terraform.lock.hcl" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn aws_module_tests_pass_at_v1_0_0_and_v1_1_0() {
    let Some(mirror) = aws_provider_mirror("the AWS module tests") else {
        return;
    };
    let src = toolkit_root().join("modules/aws");
    let work = tempfile::tempdir().unwrap();
    let config = aws_cli_config(work.path(), &mirror);
    let (new, old) = (work.path().join("v1.1.0"), work.path().join("v1.0.0"));
    for m in MODULES {
        copy_tree(&src.join(m), &new.join(m));
        copy_tree(&src.join(m), &old.join(m));
    }
    // git apply outside any repository works like patch(1); the ceiling keeps it from finding one.
    let out = Command::new("git")
        .current_dir(&old)
        .env("GIT_CEILING_DIRECTORIES", work.path())
        .args(["apply", "-R"])
        .arg(src.join("v1.1.0.patch"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "v1.1.0.patch does not reverse-apply: {}",
        stderr(&out)
    );
    let mut jobs = Vec::new();
    for m in MODULES {
        jobs.push((m, "v1.0.0", old.join(m)));
        jobs.push((m, "v1.1.0", new.join(m)));
    }
    // The versions differ in their interface.
    let vars = |dir: &Path| std::fs::read_to_string(dir.join("variables.tf")).unwrap();
    assert_ne!(
        vars(&old.join("load-balancer")),
        vars(&new.join("load-balancer")),
        "load-balancer changes its inputs between 1.0.0 and 1.1.0"
    );

    // Linked from the mirror, not copied.
    let linked = |m: &str, v: &str, dir: &Path| {
        let link = dir.join(".terraform/providers/registry.terraform.io/hashicorp/aws");
        let linked = std::fs::read_dir(&link).unwrap().flatten().all(|version| {
            std::fs::symlink_metadata(version.path().join("linux_amd64"))
                .is_ok_and(|md| md.file_type().is_symlink())
        });
        assert!(linked, "{m}@{v}: the provider was copied, not linked");
    };
    let failures = module_test_failures(&jobs, &config, &linked);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
