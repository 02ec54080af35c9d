//! `gitops-certify run`: resolve every module at its pinned tag, check each module (validate and
//! its own tests), deploy the package with every supporting profile into every certification
//! environment (see `deploy.rs`), and on success write and commit the record plus an annotated tag.

use super::deploy::{self, Job, Shared};
use super::report;
use crate::error::{exit, ConfigError, Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::exec::modcache::ModuleCache;
use crate::exec::terraform::Terraform;
use crate::model::names;
use crate::model::sot::SourceRepo;
use crate::model::ResolvedModule;
use crate::model::{Cloud, Environment, Package};
use crate::records::certification::{self as record, Record, RecordModule, StepResult};
use crate::records::digest;
use crate::render::{RenderOptions, Renderer, TOOLKIT_VERSION};
use crate::report::Reporter;
use serde::{Serialize, Serializer};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// What `gitops-certify run` is asked to do. The build tag and `by` are expected checked by the
/// caller (`names::check_build_tag`, `names::check_person`).
#[derive(Debug, Clone)]
pub struct CertifyOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    pub component: String,
    pub version: String,
    /// Profiles certified in parallel (at least 1).
    pub jobs: usize,
    /// Run again even when a valid record for this exact package exists.
    pub force: bool,
    pub build_tag: String,
    /// Who certifies; default `BUILD_USER`, else `USER`.
    pub by: Option<String>,
    pub cache_dir: PathBuf,
    /// Scratch directory (renders, state) kept after the run; default: a temporary directory
    /// removed at the end.
    pub work_dir: Option<PathBuf>,
    /// Write a JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary here.
    pub summary: Option<PathBuf>,
}

/// What a run came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A new record, committed, and its tag.
    Certified {
        record: Box<Record>,
        tag: String,
        commit: String,
    },
    /// A valid record for exactly this package digest exists: nothing was run.
    Unchanged { record: Box<Record> },
    /// Some step failed: no record was written.
    Failed {
        steps: Vec<StepResult>,
        digest: String,
    },
}

/// The report of `gitops-certify run`.
#[derive(Debug, Clone)]
pub struct CertifyReport {
    /// `<component>@<version>`.
    pub package: String,
    /// `certifications/<component>/<version>.toml`, relative to the repository.
    pub record: PathBuf,
    pub outcome: Outcome,
}

impl CertifyReport {
    /// 0 certified or unchanged, 1 failed.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            Outcome::Failed { .. } => exit::FAILED,
            _ => exit::OK,
        }
    }

    /// Every step, in order (those of the existing record when unchanged).
    pub fn steps(&self) -> &[StepResult] {
        match &self.outcome {
            Outcome::Certified { record, .. } | Outcome::Unchanged { record } => &record.steps,
            Outcome::Failed { steps, .. } => steps,
        }
    }

    /// The steps that failed.
    pub fn failed(&self) -> impl Iterator<Item = &StepResult> {
        self.steps().iter().filter(|s| s.result == "failed")
    }

    /// The verdict in the summary's title.
    pub fn verdict(&self) -> &'static str {
        match self.outcome {
            Outcome::Certified { .. } => "CERTIFIED",
            Outcome::Unchanged { .. } => "already certified (no-op)",
            Outcome::Failed { .. } => "FAILED",
        }
    }

    /// The facts listed in the summary.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let path = self.record.display();
        match &self.outcome {
            Outcome::Unchanged { .. } => vec![("record", path.to_string())],
            Outcome::Certified {
                record,
                tag,
                commit,
            } => vec![
                ("package digest", record.package_digest.clone()),
                ("profiles", record.profiles.join(", ")),
                ("clouds", record.clouds.join(", ")),
                ("terraform", record.terraform_version.clone()),
                ("record", format!("{path} (commit {commit}, tag {tag})")),
            ],
            Outcome::Failed { digest, .. } => vec![
                ("package digest", digest.clone()),
                ("record", "none written".into()),
            ],
        }
    }

    /// The `--json` document (keys sorted, as `serde_json` objects are).
    pub fn to_json(&self) -> serde_json::Value {
        let (package, path) = (&self.package, &self.record);
        match &self.outcome {
            Outcome::Unchanged { record } => json!({
                "package": package, "result": "unchanged", "record": path,
                "digest": record.package_digest,
            }),
            Outcome::Certified {
                record,
                tag,
                commit,
            } => json!({
                "package": package, "result": "certified", "record": path, "tag": tag,
                "commit": commit, "digest": record.package_digest, "profiles": record.profiles,
                "clouds": record.clouds, "steps": record.steps,
            }),
            Outcome::Failed { steps, digest } => {
                let failed: Vec<String> = self
                    .failed()
                    .map(|s| format!("{} {}", s.profile, s.step))
                    .collect();
                json!({
                    "package": package, "result": "failed", "digest": digest, "failed": failed,
                    "steps": steps,
                })
            }
        }
    }
}

impl Serialize for CertifyReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Everything resolved before anything runs.
pub struct Plan {
    pub package: Package,
    pub envs: Vec<(String, Environment)>,
    /// Cloud -> module name -> resolved module.
    pub resolved: BTreeMap<Cloud, BTreeMap<String, ResolvedModule>>,
    pub modules: Vec<RecordModule>,
    pub digest: String,
    pub jobs: Vec<Job>,
}

/// Runs `f` over `items` on up to `jobs` threads; results in item order.
pub fn parallel<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    results
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Resolves the package, its modules (fetching tags again: certification must see the truth) and
/// the jobs. Invalid input (no such package, a missing tag, no certification environment) is
/// exit 2; a revoked module or package is exit 3.
pub fn prepare(
    repo: &SourceRepo,
    cache: &ModuleCache,
    component: &str,
    version: &str,
) -> Result<Plan> {
    let envs = certification_envs(repo)?;
    let (package, pkg_src) = repo.package(component, version, |allowed| {
        ConfigError::new(
            format!("packages/{component}/{version}.toml"),
            None,
            format!("no package {component}@{version}"),
            allowed,
        )
    })?;
    let mut resolved = BTreeMap::new();
    let mut modules = Vec::new();
    for (_, env) in &envs {
        if resolved.contains_key(&env.cloud) {
            continue;
        }
        let by_name = resolve_modules(repo, cache, &package, &pkg_src, env.cloud)?;
        modules.extend(digest::record_modules(&package, env.cloud, &by_name));
        resolved.insert(env.cloud, by_name);
    }
    let digest = digest::package_digest(&package, &modules)?;
    let revoked = crate::records::revocation::read(&repo.root)?;
    if let Some(why) = revoked.first_hit(&crate::records::revocation::Subject::package(
        component, version, &package,
    )) {
        return Err(Error::Refused(format!(
            "{component}@{version} cannot be certified: {why}"
        )));
    }
    let jobs = jobs(repo, component, &envs)?;
    Ok(Plan {
        package,
        envs,
        resolved,
        modules,
        digest,
        jobs,
    })
}

/// `[certification] environments` of `gitops.toml`, each with its file (exit 2 otherwise).
fn certification_envs(repo: &SourceRepo) -> Result<Vec<(String, Environment)>> {
    let cfg_src = &repo.config_src;
    let names = &repo.config.certification.environments;
    if names.is_empty() {
        return Err(cfg_src
            .error(
                &["certification"],
                "no certification environments",
                "[certification] environments = [\"certify\"]: the environments certification renders into",
            )
            .into());
    }
    let mut envs = Vec::new();
    for name in names {
        let (env, _) = repo.environment(name, |known| {
            cfg_src.error(
                &["certification", "environments"],
                format!("environment {name} without environments/{name}.toml"),
                format!("an environment with a file: {known}"),
            )
        })?;
        envs.push((name.clone(), env));
    }
    Ok(envs)
}

/// Every module of the package at its pinned ref under the module root of `cloud`.
fn resolve_modules(
    repo: &SourceRepo,
    cache: &ModuleCache,
    package: &Package,
    pkg_src: &crate::model::load::SourceFile,
    cloud: Cloud,
) -> Result<BTreeMap<String, ResolvedModule>> {
    let root = repo.config.module_roots.get(&cloud).ok_or_else(|| {
        repo.config_src.error(
            &["module_roots"],
            format!("no module root for cloud `{cloud}`"),
            "a [module_roots] entry for every cloud a certification environment uses",
        )
    })?;
    let mut by_name = BTreeMap::new();
    for (name, m) in &package.modules {
        let url = repo.module_url(root, &m.repo);
        let r = cache.resolve(&url, &m.git_ref, &m.path, |found, allowed| {
            pkg_src.error(&["modules", name, "ref"], found, allowed)
        })?;
        by_name.insert(name.clone(), r);
    }
    Ok(by_name)
}

/// One job per (profile supporting the component, certification environment of a cloud the
/// profile covers); none is invalid input.
fn jobs(repo: &SourceRepo, component: &str, envs: &[(String, Environment)]) -> Result<Vec<Job>> {
    let mut jobs = Vec::new();
    for name in crate::model::profile::available(&repo.root) {
        let blame = |known: String| {
            ConfigError::new(
                format!("profiles/{name}.toml"),
                None,
                "an unknown profile",
                known,
            )
        };
        let p = crate::model::profile::resolve(&repo.root, &name, &blame)?;
        let comps = &p.profile.components;
        if !comps.is_empty() && !comps.iter().any(|c| c == component) {
            continue;
        }
        for (env_name, env) in envs {
            if p.profile.cloud(env.cloud).is_some() {
                jobs.push(Job {
                    profile: name.clone(),
                    env: env_name.clone(),
                    cloud: env.cloud,
                });
            }
        }
    }
    if jobs.is_empty() {
        let names: Vec<&str> = envs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::Usage(format!(
            "no profile supports {component} on the clouds of the certification environments ({})",
            names.join(", ")
        )));
    }
    Ok(jobs)
}

fn sorted_unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// The profiles, clouds and environments a plan covers.
fn coverage(plan: &Plan) -> (Vec<String>, Vec<String>, Vec<String>) {
    (
        sorted_unique(plan.jobs.iter().map(|j| j.profile.clone())),
        sorted_unique(plan.resolved.keys().map(|c| c.to_string())),
        sorted_unique(plan.envs.iter().map(|(n, _)| n.clone())),
    )
}

/// `gitops-certify run`: checks the names, certifies the package version (see the module docs),
/// then writes the JUnit XML and Markdown summary when asked. A failed certification is a report
/// (exit code 1), not an error.
pub fn certify(opts: &CertifyOptions, reporter: &dyn Reporter) -> Result<CertifyReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    check_names(&opts.component, &opts.version)?;
    let (c, v) = (&opts.component, &opts.version);
    let report = CertifyReport {
        package: format!("{c}@{v}"),
        record: record::record_path(c, v),
        outcome: run(&repo, opts, reporter)?,
    };
    if let Outcome::Unchanged { record } = &report.outcome {
        reporter.progress(&format!(
            "{} is already certified for this exact package (digest {}; {} by {}): nothing to do; --force runs it again",
            report.package, record.package_digest, record.finished, record.certified_by
        ));
    }
    if let Some(path) = &opts.junit {
        write(path, &report::junit(&report.package, report.steps()))?;
    }
    if let Some(path) = &opts.summary {
        let facts = report.facts();
        let facts: Vec<(&str, String)> = facts.iter().map(|(k, v)| (*k, v.clone())).collect();
        let md = report::markdown(&report.package, report.verdict(), &facts, report.steps());
        write(path, &md)?;
    }
    Ok(report)
}

/// A component name and a semver package version (exit 2 otherwise).
pub fn check_names(component: &str, version: &str) -> Result<()> {
    if names::is_dns_label(component) && names::is_semver(version) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "run {} {}: expected a component name ({}) and a semver package version",
        names::shown(component),
        names::shown(version),
        names::DNS_LABEL_RULE
    )))
}

/// Writes a report file, creating its directory.
fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(path, text).map_err(Error::io(path))
}

/// The scratch directory of a run: the one asked for (kept), else a temporary one (removed when
/// this is dropped).
struct Scratch {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Scratch {
    fn new(work_dir: Option<&Path>) -> Result<Scratch> {
        if let Some(d) = work_dir {
            let path = std::path::absolute(d).map_err(Error::io(d))?;
            std::fs::create_dir_all(&path).map_err(Error::io(&path))?;
            return Ok(Scratch { path, _temp: None });
        }
        let temp = tempfile::Builder::new()
            .prefix("gitops-certify-")
            .tempdir()
            .map_err(Error::io(std::env::temp_dir()))?;
        Ok(Scratch {
            path: temp.path().to_path_buf(),
            _temp: Some(temp),
        })
    }
}

/// What the steps of one run share.
struct Ctx<'a> {
    repo: &'a SourceRepo,
    opts: &'a CertifyOptions,
    cache: &'a ModuleCache,
    tf: &'a Terraform,
    work: &'a Path,
    reporter: &'a dyn Reporter,
}

/// Resolves, checks the existing record, runs every step and, when all passed, commits the record.
fn run(repo: &SourceRepo, opts: &CertifyOptions, reporter: &dyn Reporter) -> Result<Outcome> {
    let (c, v) = (&opts.component, &opts.version);
    let cache = ModuleCache::new(opts.cache_dir.clone(), true);
    reporter.progress(&format!("{c}@{v}: resolving modules (fetching tags)"));
    let plan = prepare(repo, &cache, c, v)?;
    cache.report_warnings(reporter);
    let (profiles, clouds, environments) = coverage(&plan);
    if let Some(rec) = record::read_record(repo, c, v)? {
        let same =
            rec.package_digest == plan.digest && rec.profiles == profiles && rec.clouds == clouds;
        if same && !opts.force {
            return Ok(Outcome::Unchanged {
                record: Box::new(rec),
            });
        }
    }
    // The record is a commit: a detached HEAD is refused now, not after the whole run.
    crate::exec::git::GitRepo::open(repo)?.branch()?;
    let tf = Terraform::find()?.with_plugin_cache(opts.cache_dir.join("plugins"));
    let terraform_version = tf.version()?;
    let started = SystemTime::now();
    let scratch = Scratch::new(opts.work_dir.as_deref())?;
    let ctx = Ctx {
        repo,
        opts,
        cache: &cache,
        tf: &tf,
        work: &scratch.path,
        reporter,
    };
    let mut steps = check_modules(&ctx, &plan);
    if steps.iter().any(|s| s.result == "failed") {
        steps.extend(skipped_deploys(&plan));
    } else {
        steps.extend(deploy_all(&ctx, &plan)?);
    }
    if steps.iter().any(|s| s.result == "failed") {
        return Ok(Outcome::Failed {
            steps,
            digest: plan.digest,
        });
    }
    let rec = Record {
        component: c.clone(),
        version: v.clone(),
        package_digest: plan.digest.clone(),
        package_file_digest: digest::package_file_digest(&plan.package)?,
        terraform_version,
        toolkit_version: TOOLKIT_VERSION.to_owned(),
        started: record::rfc3339(started),
        finished: record::rfc3339(SystemTime::now()),
        build_tag: opts.build_tag.clone(),
        certified_by: record::who(opts.by.as_deref()),
        profiles,
        clouds,
        environments,
        modules: plan.modules.clone(),
        steps,
    };
    let (commit, tag) = commit_record(repo, &rec)?;
    Ok(Outcome::Certified {
        record: Box::new(rec),
        tag,
        commit,
    })
}

/// Step 1: every module, validate and its own terraform tests, in a copy of the cached tree.
fn check_modules(ctx: &Ctx<'_>, plan: &Plan) -> Vec<StepResult> {
    let multi = plan.resolved.len() > 1;
    let mods: Vec<(Cloud, String, ResolvedModule)> = plan
        .resolved
        .iter()
        .flat_map(|(cloud, by)| by.iter().map(|(n, r)| (*cloud, n.clone(), r.clone())))
        .collect();
    parallel(&mods, ctx.opts.jobs, |(cloud, name, m)| {
        let label = if multi {
            format!("module/{cloud}/{name}@{}", m.git_ref)
        } else {
            format!("module/{name}@{}", m.git_ref)
        };
        check_module(ctx, &label, m)
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Step 2 when a module check failed: every job skipped.
fn skipped_deploys(plan: &Plan) -> Vec<StepResult> {
    plan.jobs
        .iter()
        .map(|j| StepResult {
            profile: format!("{}/{}", j.profile, j.env),
            step: "deploy".into(),
            result: "skipped".into(),
            duration_ms: 0,
            message: "a module check failed".into(),
        })
        .collect()
}

/// Step 2: every profile in every certification environment (see `deploy.rs`).
fn deploy_all(ctx: &Ctx<'_>, plan: &Plan) -> Result<Vec<StepResult>> {
    let (c, v) = (&ctx.opts.component, &ctx.opts.version);
    let renderer = Renderer::new(
        ctx.repo,
        ctx.cache,
        RenderOptions {
            build_tag: ctx.opts.build_tag.clone(),
            state_dir: Some(ctx.work.join("state")),
            vendor: true,
            module_store: false,
            stage: crate::guard::Stage::Render,
            allow_revoked: false,
        },
    )?;
    let shared = Shared {
        repo: ctx.repo,
        renderer: &renderer,
        package: &plan.package,
        component: c,
        version: v,
        cache_dir: &ctx.opts.cache_dir,
        work: ctx.work,
        reporter: ctx.reporter,
    };
    ctx.reporter.progress(&format!(
        "{c}@{v}: deploying with {} profile/environment pair(s), {} at a time",
        plan.jobs.len(),
        ctx.opts.jobs.max(1)
    ));
    Ok(
        parallel(&plan.jobs, ctx.opts.jobs, |j| deploy::run_job(&shared, j))
            .into_iter()
            .flatten()
            .collect(),
    )
}

/// `terraform init -backend=false`, `validate`, and `test` when the module has test files.
fn check_module(ctx: &Ctx<'_>, label: &str, m: &ResolvedModule) -> Vec<StepResult> {
    let (tf, reporter) = (ctx.tf, ctx.reporter);
    let mut out = Vec::new();
    // The repository tree for a module in a sub-directory (it may use sibling directories), and
    // the module's directory in it.
    let copy = ctx
        .work
        .join("modules")
        .join(label.replace(['/', '@'], "_"));
    let dir = copy.join(m.path.as_str());
    let mut step = |name: &str, f: &dyn Fn() -> Result<()>| {
        if out.iter().any(|s: &StepResult| s.result == "failed") {
            return;
        }
        reporter.progress(&format!("{label}: {name}"));
        let start = Instant::now();
        let r = f();
        if let Err(e) = &r {
            reporter.progress(&format!(
                "{label}: {name} FAILED: {}",
                e.to_string().lines().next().unwrap_or("")
            ));
        }
        out.push(StepResult {
            profile: label.to_owned(),
            step: name.to_owned(),
            result: if r.is_ok() { "passed" } else { "failed" }.to_owned(),
            duration_ms: start.elapsed().as_millis() as u64,
            message: r.err().map(|e| e.to_string()).unwrap_or_default(),
        });
    };
    step("validate", &|| {
        crate::exec::modcache::copy_tree(&ctx.cache.vendored_dir(m), &copy)?;
        tf.run_ok(
            &dir,
            &["init", "-backend=false", "-input=false", "-no-color"],
        )?;
        tf.run_ok(&dir, &["validate", "-no-color"]).map(|_| ())
    });
    if has_tests(&dir) {
        step("test", &|| {
            tf.run_ok(&dir, &["test", "-no-color"]).map(|_| ())
        });
    }
    out
}

fn has_tests(dir: &Path) -> bool {
    [dir.to_path_buf(), dir.join("tests")].iter().any(|d| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tftest.hcl"))
    })
}

/// Commits the record and tags the commit `certified/<component>/<version>` (a re-certification
/// with `--force` takes `certified/<component>/<version>+<n>`, n = 2, 3, ...); pushed when the
/// repository has a remote, retried when the push is rejected.
fn commit_record(repo: &SourceRepo, rec: &Record) -> Result<(String, String)> {
    let git = GitRepo::open(repo)?;
    let (c, v) = (&rec.component, &rec.version);
    let header = format!(
        "# Certification record of {c}@{v}, written by gitops-certify {TOOLKIT_VERSION}. Do not edit:\n# a changed record no longer matches and protected environments refuse the package."
    );
    let change = Change {
        path: record::record_path(c, v),
        contents: Some(record::to_toml(&header, rec)?),
    };
    let message = format!(
        "Certify {c} {v}\n\nProfiles: {}\nClouds: {}\nPackage digest: {}\nBuild: {}\nCertified by: {}\n",
        rec.profiles.join(", "),
        rec.clouds.join(", "),
        rec.package_digest,
        rec.build_tag,
        rec.certified_by
    );
    let id = git.commit_and_push(&[change], &message, 3)?;
    let base = format!("certified/{c}/{v}");
    let name_for = |g: &GitRepo| -> Result<String> {
        let taken: Vec<String> = g.tags(&base)?.into_iter().map(|t| t.name).collect();
        if !taken.contains(&base) {
            return Ok(base.clone());
        }
        let n = (2..)
            .find(|n| !taken.contains(&format!("{base}+{n}")))
            .unwrap_or(2);
        Ok(format!("{base}+{n}"))
    };
    let tag = git.tag_and_push(&name_for, id, &message, 3)?;
    Ok((id.to_string(), tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certify_report_of_a_failure() {
        let step = StepResult {
            profile: "p/certify".into(),
            step: "apply".into(),
            result: "failed".into(),
            duration_ms: 5,
            message: "boom\nmore".into(),
        };
        let r = CertifyReport {
            package: "web@1.0.0".into(),
            record: record::record_path("web", "1.0.0"),
            outcome: Outcome::Failed {
                steps: vec![step],
                digest: "sha256:x".into(),
            },
        };
        assert_eq!(r.exit_code(), exit::FAILED);
        assert_eq!(r.verdict(), "FAILED");
        assert_eq!(r.facts()[1], ("record", "none written".to_owned()));
        // Keys sorted at every level: the bytes `--json` has always printed.
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"digest":"sha256:x","failed":["p/certify apply"],"package":"web@1.0.0","result":"failed","steps":[{"duration_ms":5,"message":"boom\nmore","profile":"p/certify","result":"failed","step":"apply"}]}"#
        );
    }

    #[test]
    fn certify_names_are_checked() {
        assert!(check_names("web-service", "1.0.0").is_ok());
        let e = check_names("$(x)", "1.2").unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().starts_with("run \"$(x)\" \"1.2\""),
            "{e}"
        );
    }
}
