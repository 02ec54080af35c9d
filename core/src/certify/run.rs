//! `gitops-certify run`: resolve every module at its pinned tag, check each module (validate and
//! its own tests), deploy the package with every supporting profile into every certification
//! environment (see `deploy.rs`), and on success write and commit the record plus an annotated tag.

use super::deploy::{self, Job, Shared};
use crate::error::{ConfigError, Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::exec::modcache::ModuleCache;
use crate::exec::terraform::Terraform;
use crate::model::sot::SourceRepo;
use crate::model::ResolvedModule;
use crate::model::{Cloud, Environment, Package};
use crate::records::certification::{self as record, Record, RecordModule, StepResult};
use crate::records::digest;
use crate::render::{RenderOptions, Renderer, TOOLKIT_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// Settings of one run.
pub struct RunOptions {
    pub component: String,
    pub version: String,
    pub jobs: usize,
    pub force: bool,
    pub build_tag: String,
    pub by: Option<String>,
    pub cache_dir: PathBuf,
    /// Scratch directory (renders, state) kept after the run; default: a temporary directory
    /// removed at the end.
    pub work_dir: Option<PathBuf>,
    pub say: Box<dyn Fn(&str) + Sync>,
}

/// What a run came to.
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
        let root = repo.config.module_roots.get(&env.cloud).ok_or_else(|| {
            cfg_src.error(
                &["module_roots"],
                format!("no module root for cloud `{}`", env.cloud),
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
        modules.extend(digest::record_modules(&package, env.cloud, &by_name));
        resolved.insert(env.cloud, by_name);
    }
    let digest = digest::package_digest(&package, &modules)?;
    let revoked = record::read_revoked(repo)?;
    if let Some(why) =
        crate::guard::certification::revocation(&revoked, component, version, &package)
    {
        return Err(Error::Refused(format!(
            "{component}@{version} cannot be certified: {why}"
        )));
    }
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
        for (env_name, env) in &envs {
            if p.profile.cloud(env.cloud).is_some() {
                jobs.push(Job {
                    profile: name.clone(),
                    env: env_name.clone(),
                });
            }
        }
    }
    if jobs.is_empty() {
        return Err(Error::Usage(format!(
            "no profile supports {component} on the clouds of the certification environments ({})",
            names.join(", ")
        )));
    }
    Ok(Plan {
        package,
        envs,
        resolved,
        modules,
        digest,
        jobs,
    })
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

/// Certifies one package version (see the module docs).
pub fn certify(repo: &SourceRepo, opts: &RunOptions) -> Result<Outcome> {
    let (c, v) = (&opts.component, &opts.version);
    let say = &*opts.say;
    let cache = ModuleCache::new(opts.cache_dir.clone(), true);
    say(&format!("{c}@{v}: resolving modules (fetching tags)"));
    let plan = prepare(repo, &cache, c, v)?;
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
    let tf = Terraform::find()?.with_plugin_cache(opts.cache_dir.join("plugins"));
    let terraform_version = tf.version()?;
    let started = SystemTime::now();
    let temp;
    let work: &Path = match &opts.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(Error::io(d))?;
            d
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("gitops-certify-")
                .tempdir()
                .map_err(Error::io(std::env::temp_dir()))?;
            temp.path()
        }
    };

    // 1. Every module: validate and its own terraform tests, in a copy of the cached tree.
    let multi = plan.resolved.len() > 1;
    let mods: Vec<(Cloud, String, ResolvedModule)> = plan
        .resolved
        .iter()
        .flat_map(|(cloud, by)| by.iter().map(|(n, r)| (*cloud, n.clone(), r.clone())))
        .collect();
    let mut steps: Vec<StepResult> = parallel(&mods, opts.jobs, |(cloud, name, m)| {
        let label = if multi {
            format!("module/{cloud}/{name}@{}", m.git_ref)
        } else {
            format!("module/{name}@{}", m.git_ref)
        };
        check_module(&tf, &cache, work, &label, m, say)
    })
    .into_iter()
    .flatten()
    .collect();

    // 2. Every profile in every certification environment, unless a module check failed.
    if steps.iter().any(|s| s.result == "failed") {
        for j in &plan.jobs {
            steps.push(StepResult {
                profile: format!("{}/{}", j.profile, j.env),
                step: "deploy".into(),
                result: "skipped".into(),
                duration_ms: 0,
                message: "a module check failed".into(),
            });
        }
    } else {
        let renderer = Renderer::new(
            repo,
            &cache,
            RenderOptions {
                build_tag: opts.build_tag.clone(),
                state_dir: Some(work.join("state")),
                vendor: true,
                stage: crate::guard::Stage::Render,
                allow_revoked: false,
            },
        )?;
        let shared = Shared {
            repo,
            renderer: &renderer,
            package: &plan.package,
            component: c,
            version: v,
            cache_dir: &opts.cache_dir,
            work,
            say,
        };
        say(&format!(
            "{c}@{v}: deploying with {} profile/environment pair(s), {} at a time",
            plan.jobs.len(),
            opts.jobs.max(1)
        ));
        steps.extend(
            parallel(&plan.jobs, opts.jobs, |j| deploy::run_job(&shared, j))
                .into_iter()
                .flatten(),
        );
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

/// `terraform init -backend=false`, `validate`, and `test` when the module has test files.
fn check_module(
    tf: &Terraform,
    cache: &ModuleCache,
    work: &Path,
    label: &str,
    m: &ResolvedModule,
    say: &(dyn Fn(&str) + Sync),
) -> Vec<StepResult> {
    let mut out = Vec::new();
    let dir = work.join("modules").join(label.replace(['/', '@'], "_"));
    let mut step = |name: &str, f: &dyn Fn() -> Result<()>| {
        if out.iter().any(|s: &StepResult| s.result == "failed") {
            return;
        }
        say(&format!("{label}: {name}"));
        let start = Instant::now();
        let r = f();
        if let Err(e) = &r {
            say(&format!(
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
        crate::exec::modcache::copy_tree(&cache.module_dir(m), &dir)?;
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
