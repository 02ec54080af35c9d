//! One profile of a certification run: render the package into a certification environment, then
//! init, validate, plan, policy gate, apply, verify, the package's own tests, and always destroy
//! (also after a failure); resources left in the state after destroy are a failure.

use crate::error::{Error, Result};
use crate::exec::terraform::Terraform;
use crate::model::load::SourceFile;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{Deployment, Package};
use crate::plan::rendered::RenderedDir;
use crate::records::certification::StepResult;
use crate::render::Renderer;
use crate::report::Reporter;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Extra root outputs written next to the render: every wiring target and package output, so
/// verify can see that each is set.
const OUTPUTS_FILE: &str = "zz-gitops-certify-outputs.tf.json";

/// One (profile, certification environment) pair.
#[derive(Debug, Clone)]
pub struct Job {
    pub profile: String,
    pub env: String,
    /// The environment's cloud (it bounds the deployment name: [`Cloud::name_limit`]).
    pub cloud: crate::model::Cloud,
}

/// What every job of a run shares.
pub struct Shared<'a> {
    pub repo: &'a SourceRepo,
    pub renderer: &'a Renderer<'a>,
    pub package: &'a Package,
    pub component: &'a str,
    pub version: &'a str,
    pub cache_dir: &'a Path,
    pub work: &'a Path,
    pub reporter: &'a dyn Reporter,
}

/// `<component>-<version with dashes>-<profile>`, a DNS label of at most `limit` characters
/// (hash-shortened when longer: [`crate::model::Cloud::name_limit`]).
pub fn deployment_name(component: &str, version: &str, profile: &str, limit: usize) -> String {
    let raw: String = format!("{component}-{version}-{profile}")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if crate::model::names::is_dns_label(&raw) && raw.len() <= limit {
        return raw;
    }
    let hash = &crate::model::load::sha256_hex(raw.as_bytes())[..8];
    let head: String = raw.chars().take(limit.min(63) - 9).collect();
    format!("{}-{hash}", head.trim_end_matches('-'))
}

/// Step bookkeeping: after a failure, the remaining steps are skipped (except the `always` ones).
struct Steps<'a> {
    label: String,
    out: Vec<StepResult>,
    failed: bool,
    reporter: &'a dyn Reporter,
}

impl Steps<'_> {
    fn push(&mut self, step: &str, result: &str, ms: u64, message: String) {
        self.out.push(StepResult {
            profile: self.label.clone(),
            step: step.to_owned(),
            result: result.to_owned(),
            duration_ms: ms,
            message,
        });
    }

    fn run<T>(&mut self, step: &str, always: bool, f: impl FnOnce() -> Result<T>) -> Option<T> {
        if self.failed && !always {
            self.push(step, "skipped", 0, "an earlier step failed".into());
            return None;
        }
        self.reporter.progress(&format!("{}: {step}", self.label));
        let start = Instant::now();
        let r = f();
        let ms = start.elapsed().as_millis() as u64;
        match r {
            Ok(v) => {
                self.push(step, "passed", ms, String::new());
                Some(v)
            }
            Err(e) => {
                self.reporter.progress(&format!(
                    "{}: {step} FAILED: {}",
                    self.label,
                    first_line(&e)
                ));
                self.push(step, "failed", ms, e.to_string());
                self.failed = true;
                None
            }
        }
    }
}

fn first_line(e: &Error) -> String {
    e.to_string().lines().next().unwrap_or("").to_owned()
}

/// Runs one job; never returns early without destroying what it applied.
pub fn run_job(sh: &Shared<'_>, job: &Job) -> Vec<StepResult> {
    let mut steps = Steps {
        label: format!("{}/{}", job.profile, job.env),
        out: Vec::new(),
        failed: false,
        reporter: sh.reporter,
    };
    let name = deployment_name(
        sh.component,
        sh.version,
        &job.profile,
        job.cloud.name_limit(),
    );
    let id = DeploymentId {
        env: job.env.clone(),
        name,
    };
    let dir = sh.work.join("out").join(&id.env).join(&id.name);
    let rendered = steps.run("render", false, || render(sh, &id, &job.profile, &dir));
    let mut tf: Option<(Terraform, Option<crate::exec::vault::VaultSession>)> = None;
    steps.run("init", false, || {
        let rd = RenderedDir::open(&dir)?;
        let (t, v) = rd.terraform(sh.repo, sh.cache_dir)?;
        t.run_ok(&dir, &["init", "-input=false", "-no-color"])?;
        tf = Some((t, v));
        Ok(())
    });
    let Some((tf, vault)) = tf else {
        return steps.out;
    };
    let (tags, manifest) = rendered.unwrap_or_default();
    deploy_and_verify(sh, &mut steps, &tf, &dir, &tags, &manifest);
    steps.run("destroy", true, || destroy(&tf, &dir));
    crate::exec::vault::finish(vault, sh.reporter);
    steps.out
}

/// validate, plan, policy, apply, verify and the package's own tests, in an initialized directory.
fn deploy_and_verify(
    sh: &Shared<'_>,
    steps: &mut Steps<'_>,
    tf: &Terraform,
    dir: &Path,
    tags: &BTreeMap<String, String>,
    manifest: &Value,
) {
    steps.run("validate", false, || {
        tf.run_ok(dir, &["validate", "-no-color"]).map(|_| ())
    });
    let plan = steps.run("plan", false, || {
        tf.run_ok(dir, &["plan", "-input=false", "-no-color", "-out=plan.bin"])?;
        let shown = tf.run_ok(dir, &["show", "-json", "plan.bin"])?;
        serde_json::from_str::<Value>(&shown.stdout)
            .map_err(|e| Error::Process(format!("terraform show -json plan.bin: {e}")))
    });
    let summary = plan
        .as_ref()
        .map(crate::plan::summary::summarize)
        .unwrap_or_default();
    if let (Some(_), Some(step)) = (&plan, steps.out.last_mut()) {
        // The certification summary quotes what the plan does (tag-only updates apart).
        step.message = summary.real_line();
    }
    steps.run("policy", false, || {
        policy_gate(
            &sh.repo.root,
            plan.as_ref().unwrap_or(&Value::Null),
            &summary.changes,
            manifest,
        )
    });
    steps.run("apply", false, || {
        tf.run_ok(dir, &["apply", "-input=false", "-no-color", "plan.bin"])
            .map(|_| ())
    });
    steps.run("verify", false, || verify(tf, dir, tags));
    let tests = package_tests(&sh.repo.root, sh.component);
    if !tests.is_empty() {
        steps.run("test", false, || {
            let target = dir.join("tests");
            std::fs::create_dir_all(&target).map_err(Error::io(&target))?;
            for t in &tests {
                let to = target.join(t.file_name().unwrap_or_default());
                std::fs::copy(t, &to).map_err(Error::io(&to))?;
            }
            tf.run_ok(dir, &["test", "-no-color"]).map(|_| ())
        });
    }
}

/// The repository's policies over the plan: any denial refuses the step.
fn policy_gate(
    repo_root: &Path,
    plan: &Value,
    changes: &[crate::plan::summary::Change],
    manifest: &Value,
) -> Result<()> {
    let report = crate::plan::policy::evaluate(repo_root, plan, changes, manifest)?;
    if report.denials.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = report
        .denials
        .iter()
        .map(|d| {
            format!(
                "denied by {} ({}): {}: {}",
                d.policy, d.rule, d.resource, d.message
            )
        })
        .collect();
    Err(Error::Refused(lines.join("\n")))
}

/// `terraform destroy`; resources left in the state afterwards are a failure.
fn destroy(tf: &Terraform, dir: &Path) -> Result<()> {
    tf.run_ok(
        dir,
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    )?;
    let left = tf.run_ok(dir, &["state", "list"])?.stdout;
    let left: Vec<&str> = left.lines().filter(|l| !l.trim().is_empty()).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "resources left behind after destroy: {}",
            left.join(", ")
        )))
    }
}

/// Renders the synthetic request and writes it, plus the extra outputs file. Returns the tags the
/// resources must carry and the manifest.
fn render(
    sh: &Shared<'_>,
    id: &DeploymentId,
    profile: &str,
    dir: &Path,
) -> Result<(BTreeMap<String, String>, Value)> {
    let dep = Deployment {
        component: sh.component.to_owned(),
        package: sh.version.to_owned(),
        profile: profile.to_owned(),
        overrides: BTreeMap::new(),
        app_config: BTreeMap::new(),
        monitoring: BTreeMap::new(),
        dependencies: BTreeMap::new(),
        wiring: BTreeMap::new(),
    };
    let text = format!(
        "# synthetic certification request\ncomponent = \"{}\"\npackage = \"{}\"\nprofile = \"{profile}\"\n",
        sh.component, sh.version
    );
    let src = SourceFile::from_text(format!("certify:{id}"), text);
    let r = sh.renderer.render_request(id, &dep, &src)?;
    crate::render::write(&r, dir)?;
    let mut outputs = serde_json::Map::new();
    let mut add = |target: &str| {
        // The whole output the target starts from (its path is the module's business).
        let (m, o, _) = crate::model::names::wiring_target(target).unwrap_or((target, "", ""));
        outputs.insert(
            format!("gitops_certify_{m}_{o}"),
            json!({ "value": crate::render::module_expr(&format!("{m}.{o}")), "sensitive": true }),
        );
    };
    for m in sh.package.modules.values() {
        for target in m.wiring.values() {
            add(target);
        }
    }
    for output in sh.package.outputs.values() {
        add(output.target());
    }
    let path = dir.join(OUTPUTS_FILE);
    std::fs::write(
        &path,
        crate::render::to_json_bytes(&json!({ "output": outputs })),
    )
    .map_err(Error::io(&path))?;
    let manifest = serde_json::to_value(&r.manifest).map_err(|e| Error::Process(e.to_string()))?;
    Ok((r.manifest.tags.clone(), manifest))
}

/// Every resource carries every required tag with the deployment's value (gitops-tag's check:
/// types that cannot carry tags are exempt); every output the wiring or the package declares is
/// set.
fn verify(tf: &Terraform, dir: &Path, tags: &BTreeMap<String, String>) -> Result<()> {
    let state: Value =
        serde_json::from_str(&tf.run_ok(dir, &["show", "-json", "-no-color"])?.stdout)
            .map_err(|e| Error::Process(format!("terraform show -json: {e}")))?;
    let check = crate::lifecycle::tag::check(&state, tags);
    let mut problems: Vec<String> = check
        .offenders
        .iter()
        .map(|o| format!("{}: {}", o.address, o.problems.join("; ")))
        .collect();
    let outputs: Value = serde_json::from_str(&tf.run_ok(dir, &["output", "-json"])?.stdout)
        .map_err(|e| Error::Process(format!("terraform output -json: {e}")))?;
    for (name, o) in outputs.as_object().into_iter().flatten() {
        if o["value"].is_null() {
            let shown = name
                .strip_prefix("gitops_certify_")
                .map(|s| format!("wired output {s}"))
                .unwrap_or_else(|| format!("package output {name}"));
            problems.push(format!("{shown} is not set"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Process(format!(
            "verification failed ({} resources checked, {} exempt):\n{}",
            check.checked,
            check.exempt.len(),
            problems.join("\n")
        )))
    }
}

/// `packages/<component>/tests/*.tftest.hcl`, sorted.
pub fn package_tests(repo_root: &Path, component: &str) -> Vec<PathBuf> {
    let dir = repo_root.join("packages").join(component).join("tests");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".tftest.hcl"))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cloud;

    #[test]
    fn certify_deployment_names_are_dns_labels() {
        assert_eq!(
            deployment_name("web-service", "1.0.0", "high-traffic-api", 63),
            "web-service-1-0-0-high-traffic-api"
        );
        let long = deployment_name(&"a".repeat(40), "1.0.0-rc.1+build.7", &"p".repeat(40), 63);
        assert!(crate::model::names::is_dns_label(&long), "{long}");
        assert_eq!(long.len(), 63);
        // On AWS: short enough for a load balancer's name with a suffix, still unique per profile.
        let aws = Cloud::Aws.name_limit();
        let a = deployment_name("web-service", "1.0.0", "high-traffic-api", aws);
        let b = deployment_name("web-service", "1.0.0", "high-traffic-apx", aws);
        assert!(
            a.len() <= 28 && crate::model::names::is_dns_label(&a),
            "{a}"
        );
        assert!(a.starts_with("web-service-1-0-0-"), "{a}");
        assert_ne!(a, b);
    }
}
