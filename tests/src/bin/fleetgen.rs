//! `fleetgen`: generates a fleet-scale source-of-truth repository for the benchmarks (issue 7),
//! deterministically from a seed: the example's module repos, 20 components with two package
//! versions each, and N deployments over dev/staging/prod with 3 profiles, committed in batches
//! (a realistic history), then two scenario commits tagged `bench/one` (one deployment changed)
//! and `bench/pkg` (a package used by 500 deployments changed).
//!
//! `--deployed` also records a deployment of every request as the toolkit does after an apply
//! (issue 18, B9): the annotated tag `deploy/<env>/<name>/1` on the commit that added the request,
//! whose message is `gitops_core`'s own [`DeployMeta::message`] (the one writer of the format), all
//! written by one `git fast-import` and then packed, as a clone has them. `--add-records` does the
//! same for the fleet already in `--out` (the benchmark adds them after B1/B2 have run without).
//! `--state DIR` writes, for each, a Terraform state with the resources its package's sandbox
//! modules create, where the local backend of the fleet's gitops.toml puts it
//! (`gitops_core::render::backend_settings` with `{state_dir}` = DIR: DIR/<env>/<name>.tfstate).
//!
//! Usage: fleetgen --out DIR [--deployments N] [--seed S] [--deployed | --add-records] [--state DIR]

use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::records::deployment::{self as records, DeployMeta};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Rng(u64);

impl Rng {
    /// splitmix64: tiny, deterministic, good enough to spread choices.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn git(dir: &Path, args: &[&str], date: &str) {
    let mut c = gitops_tests::git_command(dir, "fleet");
    c.args(args)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date);
    gitops_tests::git_output(c, args);
}

/// Runs git in `dir`, which must succeed; its stdout, trimmed.
fn git_stdout(dir: &Path, args: &[&str]) -> String {
    let mut c = gitops_tests::git_command(dir, "fleet");
    c.args(args);
    gitops_tests::git_output(c, args)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

const COMPONENTS: usize = 20;
const SHARED_PACKAGE_USERS: usize = 500;

const USAGE: &str = "usage: fleetgen --out DIR [--deployments N] [--seed S] [--deployed | --add-records] [--state DIR]";

fn usage_error(message: &str) -> ! {
    fail(2, &format!("{message}\n{USAGE}"))
}

/// Component `c<NN>` is a web service when NN is even, a data store when odd.
fn is_web_service(c: usize) -> bool {
    c.is_multiple_of(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut out, mut n, mut seed) = (None::<PathBuf>, 10_000usize, 42u64);
    let (mut deployed, mut add_records, mut state) = (false, false, None::<PathBuf>);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--deployments" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage_error("--deployments takes a number"))
            }
            "--seed" => {
                seed = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage_error("--seed takes a number"))
            }
            "--deployed" => deployed = true,
            "--add-records" => add_records = true,
            "--state" => {
                state = Some(
                    args.next()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| usage_error("--state takes a directory")),
                )
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => usage_error(&format!("unknown argument {other:?}")),
        }
    }
    let out = out.unwrap_or_else(|| usage_error("--out DIR is required"));
    if deployed && add_records {
        usage_error("--deployed generates a fleet with records, --add-records adds them to the fleet in --out: give one");
    }
    if state.is_some() && !(deployed || add_records) {
        usage_error(
            "--state writes the states of recorded deployments: give --deployed or --add-records",
        );
    }
    let repo = if add_records {
        let repo = out.join("repo");
        if !repo.join("gitops.toml").is_file() {
            usage_error(&format!(
                "--add-records: {} is not a fleet of fleetgen (no repo/gitops.toml)",
                out.display()
            ));
        }
        repo
    } else {
        let repo = generate(&out, n, seed);
        println!("fleet of {n} deployments in {}", repo.display());
        repo
    };
    if deployed || add_records {
        let state = state.map(|s| std::path::absolute(&s).expect("absolute --state"));
        let count = record(&repo, seed, state.as_deref());
        println!(
            "recorded {count} deployments (deploy/<env>/<name>/1){}",
            state
                .map(|s| format!(", states in {}", s.display()))
                .unwrap_or_default()
        );
    }
}

/// Generates the fleet into `out` (`out/modules`, `out/repo`); returns the repo.
fn generate(out: &Path, n: usize, seed: u64) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("toolkit root")
        .to_path_buf();
    let status = Command::new("bash")
        .arg(root.join("scripts/make-example.sh"))
        .arg(out)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("make-example.sh");
    assert!(
        status.status.success(),
        "make-example.sh: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let repo = out.join("repo");
    let example = root.join("examples/platform-live");
    // The fleet's environments are unprotected: certifying 40 package versions with real
    // Terraform is not what this benchmark measures (render and change detection are).
    for env in ["dev", "staging", "prod"] {
        let text =
            std::fs::read_to_string(example.join(format!("environments/{env}.toml"))).expect("env");
        write(
            &repo.join(format!("environments/{env}.toml")),
            &text.replace("protected = true", "protected = false"),
        );
    }
    std::fs::remove_dir_all(repo.join("deployments")).expect("rm deployments");
    let mut rng = Rng(seed);
    let mut date = 1_767_225_600u64; // 2026-01-01
    let mut commit = |msg: &str, paths: &[&str]| {
        date += 3600;
        let d = format!("@{date} +0000");
        let mut add = vec!["add", "-A", "--"];
        add.extend_from_slice(paths);
        git(&repo, &add, &d);
        git(&repo, &["commit", "-q", "-m", msg], &d);
    };
    // 20 components, web services and data stores, with two versions each.
    for c in 0..COMPONENTS {
        let model = if is_web_service(c) {
            "web-service"
        } else {
            "data-store"
        };
        for v in ["1.0.0", "1.1.0"] {
            let text = std::fs::read_to_string(example.join(format!("packages/{model}/{v}.toml")))
                .expect("package");
            write(&repo.join(format!("packages/c{c:02}/{v}.toml")), &text);
        }
    }
    // The built-in profiles name the components they support (web-service, data-store): the
    // fleet's own profiles extend that list to its components, as a team's repo would.
    let web: Vec<String> = (0..COMPONENTS)
        .filter(|&c| is_web_service(c))
        .map(|c| format!("\"c{c:02}\""))
        .collect();
    let data: Vec<String> = (0..COMPONENTS)
        .filter(|&c| !is_web_service(c))
        .map(|c| format!("\"c{c:02}\""))
        .collect();
    write(
        &repo.join("profiles/high-traffic-api.toml"),
        &format!("components = [{}]\n", web.join(", ")),
    );
    write(
        &repo.join("profiles/database-cluster.toml"),
        &format!("components = [{}]\n", data.join(", ")),
    );
    commit(
        "Fleet: environments, profiles and 20 component packages",
        &["."],
    );
    let profiles_web = ["internal-tooling", "high-traffic-api"];
    let profiles_data = ["internal-tooling", "database-cluster"];
    let batch = (n / 10).max(1);
    for i in 0..n {
        // The first 500 deployments share c00@1.0.0 (the package scenario changes it).
        let (c, version) = if i < SHARED_PACKAGE_USERS.min(n) {
            (0, "1.0.0")
        } else {
            (
                1 + rng.below(COMPONENTS as u64 - 1) as usize,
                if rng.below(2) == 0 { "1.0.0" } else { "1.1.0" },
            )
        };
        let c = if c == 0 && i >= SHARED_PACKAGE_USERS {
            2
        } else {
            c
        };
        let profile = if is_web_service(c) {
            profiles_web[rng.below(2) as usize]
        } else {
            profiles_data[rng.below(2) as usize]
        };
        let env = match rng.below(10) {
            0..=4 => "dev",
            5..=7 => "staging",
            _ => "prod",
        };
        let mut text =
            format!("component = \"c{c:02}\"\npackage = \"{version}\"\nprofile = \"{profile}\"\n");
        if is_web_service(c) {
            text.push_str(&format!("\n[overrides.compute]\ndesired_capacity = {}\n\n[app_config]\nLOG_LEVEL = \"info\"\nSERVICE_ID = \"svc-{i:05}\"\n", 1 + rng.below(2)));
        }
        write(
            &repo.join(format!("deployments/{env}/svc-{i:05}.toml")),
            &text,
        );
        if (i + 1) % batch == 0 || i + 1 == n {
            commit(
                &format!("Fleet: deployments up to svc-{i:05}"),
                &["deployments"],
            );
        }
    }
    git(&repo, &["tag", "bench/base"], "@1767225600 +0000");
    // Scenario 1: one deployment changes.
    let one = std::fs::read_dir(repo.join("deployments/dev"))
        .expect("dev")
        .flatten()
        .map(|e| e.path())
        .min()
        .expect("a dev deployment");
    let text = std::fs::read_to_string(&one).expect("read");
    write(&one, &format!("{text}\n# scaled by the benchmark\n"));
    commit("Change one deployment", &["deployments"]);
    git(&repo, &["tag", "bench/one"], "@1767225600 +0000");
    // Scenario 2: the package used by 500 deployments changes.
    let pkg = repo.join("packages/c00/1.0.0.toml");
    let text = std::fs::read_to_string(&pkg).expect("read");
    write(&pkg, &format!("{text}\n# reviewed by the benchmark\n"));
    commit("Change package c00@1.0.0", &["packages"]);
    git(&repo, &["tag", "bench/pkg"], "@1767225600 +0000");
    repo
}

/// One request of the fleet as its generator wrote it (`key = "value"` lines).
struct Request {
    id: DeploymentId,
    component: String,
    package: String,
    profile: String,
    capacity: usize,
}

fn parse_request(path: &str, text: &str) -> Request {
    let (env, name) = path
        .strip_prefix("deployments/")
        .and_then(|p| p.strip_suffix(".toml"))
        .and_then(|p| p.split_once('/'))
        .unwrap_or_else(|| panic!("{path}: not deployments/<env>/<name>.toml"));
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let field = |key: &str| value(key).unwrap_or_else(|| panic!("{path}: no {key}"));
    Request {
        id: DeploymentId {
            env: env.to_owned(),
            name: name.to_owned(),
        },
        component: field("component"),
        package: field("package"),
        profile: field("profile"),
        capacity: value("desired_capacity")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1),
    }
}

fn sha256_hex(text: &str) -> String {
    gitops_core::model::load::sha256_hex(text.as_bytes())
}

/// A UUID-shaped id derived from `text` (deterministic).
fn uuid_of(text: &str) -> String {
    gitops_tests::vault::uuid_shaped(&sha256_hex(text))
}

/// The non-sensitive outputs a deployment of `r`'s package would have (the packages' [outputs]).
fn outputs_of(r: &Request, web: bool) -> Map<String, Value> {
    let name = &r.id.name;
    let mut out = Map::new();
    if web {
        out.insert("asg".into(), json!(format!("asg-{}", uuid_of(name))));
        out.insert(
            "endpoint".into(),
            json!(format!("{name}.{}.lb.sandbox.invalid", r.id.env)),
        );
    } else {
        out.insert(
            "db_endpoint".into(),
            json!(format!("{name}.{}.db.sandbox.invalid:5432", r.id.env)),
        );
    }
    out
}

/// The Terraform state of a deployment of `r`: the `terraform_data` resources its package's
/// sandbox modules create (web service: network, load balancer, compute with one instance per
/// unit of capacity, monitoring, app config; data store: network, database, monitoring, app config).
fn state_of(r: &Request, web: bool, outputs: &Map<String, Value>) -> Value {
    let mut modules: Vec<(&str, Vec<(&str, usize)>)> = vec![(
        "network",
        if web {
            vec![("network", 1), ("subnet", 2), ("nat_gateway", 1)]
        } else {
            vec![("network", 1), ("subnet", 2)]
        },
    )];
    if web {
        modules.push((
            "load-balancer",
            vec![("load_balancer", 1), ("target_group", 1), ("listener", 1)],
        ));
        modules.push((
            "compute",
            vec![
                ("launch_template", 1),
                ("autoscaling_group", 1),
                ("instance", r.capacity),
            ],
        ));
    } else {
        modules.push(("database", vec![("subnet_group", 1), ("db_instance", 1)]));
    }
    modules.push((
        "monitoring",
        vec![("notification_channel", 1), ("alarm", 2), ("dashboard", 1)],
    ));
    modules.push((
        "app-config",
        vec![
            ("config_parameter", 1),
            ("secret_reference", 1),
            ("config_version", 1),
        ],
    ));
    let mut resources = Vec::new();
    for (module, list) in modules {
        for (name, count) in list {
            let instances: Vec<Value> = (0..count)
                .map(|i| {
                    let address = format!("{}: module.{module}.terraform_data.{name}[{i}]", r.id);
                    let mut inst = json!({
                        "schema_version": 0,
                        "attributes": {
                            "id": uuid_of(&address),
                            "input": null,
                            "output": null,
                            "triggers_replace": null
                        },
                        "sensitive_attributes": []
                    });
                    if count > 1 {
                        inst["index_key"] = json!(i);
                    }
                    inst
                })
                .collect();
            resources.push(json!({
                "module": format!("module.{module}"),
                "mode": "managed",
                "type": "terraform_data",
                "name": name,
                "provider": "provider[\"terraform.io/builtin/terraform\"]",
                "instances": instances
            }));
        }
    }
    let outputs: Map<String, Value> = outputs
        .iter()
        .map(|(k, v)| (k.clone(), json!({"value": v, "type": "string"})))
        .collect();
    json!({
        "version": 4,
        "terraform_version": "1.9.8",
        "serial": 3,
        "lineage": uuid_of(&format!("lineage {}", r.id)),
        "outputs": outputs,
        "resources": resources,
        "check_results": null
    })
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("fleetgen: {message}");
    std::process::exit(code)
}

/// Records a deployment of every request of the fleet at `bench/base` (the tag
/// `deploy/<env>/<name>/1` on the commit that added it) and, with `state`, writes its state.
/// Returns how many were recorded.
fn record(repo: &Path, seed: u64, state: Option<&Path>) -> usize {
    let base = gitops_tests::git_command(repo, "fleet")
        .args(["rev-parse", "--verify", "-q", "bench/base^{commit}"])
        .output()
        .expect("git rev-parse");
    if !base.status.success() {
        fail(
            2,
            &format!(
                "{}: no tag bench/base: not a fleet of fleetgen",
                repo.display()
            ),
        );
    }
    let existing = git_stdout(repo, &["tag", "-l", "deploy/*"]);
    if !existing.is_empty() {
        fail(
            3,
            &format!(
                "{}: already has deployment records (deploy/ tags): nothing written",
                repo.display()
            ),
        );
    }
    // Where the local backend of the fleet's gitops.toml puts each state: the render's own rule.
    let sot = state.map(|_| SourceRepo::open(repo).unwrap_or_else(|e| fail(2, &e.to_string())));
    let environments: BTreeMap<String, gitops_core::model::Environment> = sot
        .iter()
        .flat_map(|sot| {
            sot.environment_names().into_iter().map(|name| {
                let (env, _) = sot
                    .environment(&name, |_| unreachable!("listed"))
                    .unwrap_or_else(|e| fail(2, &e.to_string()));
                (name, env)
            })
        })
        .collect();
    let state_path = |r: &Request, dir: &Path| -> PathBuf {
        let sot = sot.as_ref().expect("the repository of --state");
        let env = environments
            .get(&r.id.env)
            .unwrap_or_else(|| fail(2, &format!("environments/{}.toml: no such file", r.id.env)));
        let (backend, at) = sot.config.backend_for(&r.id.env, env.cloud);
        let path = backend.config.get("path");
        if backend.kind != gitops_core::model::BackendKind::Local || path.is_none() {
            fail(
                2,
                &format!(
                    "--state: the fleet's gitops.toml has no local backend with a path ({})",
                    at.join(".")
                ),
            );
        }
        let vars = gitops_core::render::BackendVars {
            id: &r.id,
            component: &r.component,
            env,
            state_dir: Some(dir),
        };
        let settings =
            gitops_core::render::backend_settings(backend, &vars).unwrap_or_else(|key| {
                fail(
                    2,
                    &format!("gitops.toml: {}.config.{}", at.join("."), key.join(".")),
                )
            });
        PathBuf::from(settings["path"].as_str().unwrap_or_default())
    };
    // The requests at bench/base (path -> blob): the example's own requests, added and then
    // removed by the generator, are not in the fleet.
    let listing = git_stdout(repo, &["ls-tree", "-r", "bench/base", "--", "deployments/"]);
    let live: BTreeMap<&str, &str> = listing
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            Some((path, meta.split(' ').nth(2)?))
        })
        .collect();
    // Each with the last commit before bench/base that added or changed it (its request there is
    // the one at bench/base), oldest first.
    let args = [
        "log",
        "--reverse",
        "--format=%x01%H %ct",
        "--name-only",
        "--diff-filter=AM",
        "--no-renames",
        "bench/base",
        "--",
        "deployments/",
    ];
    let log = git_stdout(repo, &args);
    let mut last = BTreeMap::new();
    let mut order = Vec::new();
    let mut current = None::<(&str, u64)>;
    for line in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(head) = line.strip_prefix('\u{1}') {
            let (commit, time) = head.split_once(' ').expect("%H %ct");
            current = Some((commit, time.parse().expect("%ct")));
        } else if live.contains_key(line) {
            let at = current.expect("a commit before its files");
            if last.insert(line, at).is_none() {
                order.push(line);
            }
        }
    }
    // The blobs' bytes, each once, through one `git cat-file --batch`.
    let blob_ids: BTreeSet<&str> = live.values().copied().collect();
    let mut input = tempfile::tempfile().expect("temp file");
    for oid in &blob_ids {
        writeln!(input, "{oid}").expect("write");
    }
    input.rewind().expect("rewind");
    let mut cat = gitops_tests::git_command(repo, "fleet");
    cat.args(["cat-file", "--batch"]).stdin(input);
    let out = cat.output().expect("git cat-file");
    assert!(out.status.success(), "git cat-file --batch failed");
    let mut rest = &out.stdout[..];
    let mut blobs = BTreeMap::new();
    for oid in &blob_ids {
        let nl = rest.iter().position(|b| *b == b'\n').expect("header");
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let size: usize = header
            .split(' ')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("git cat-file {oid}: {header}"));
        blobs.insert(*oid, &rest[nl + 1..nl + 1 + size]);
        rest = &rest[nl + 1 + size + 1..];
    }
    // The records, written by the core crate's own writer, as one fast-import stream.
    let mut rng = Rng(seed ^ 0x5EED_0018_DE91_0000);
    let mut stream = std::io::BufWriter::new(tempfile::tempfile().expect("temp file"));
    for (k, path) in order.iter().enumerate() {
        let (commit, time) = last[path];
        let bytes = blobs[live[path]];
        let r = parse_request(path, &String::from_utf8_lossy(bytes));
        let web = r
            .component
            .trim_start_matches('c')
            .parse::<usize>()
            .is_ok_and(is_web_service);
        let when = time + 300 + rng.below(3000);
        let outputs = outputs_of(&r, web);
        let meta = DeployMeta {
            deployment: r.id.to_string(),
            package: format!("{}@{}", r.component, r.package),
            profile: r.profile.clone(),
            plan_digest: format!("sha256:{}", sha256_hex(&format!("plan {} {commit}", r.id))),
            outputs_digest: records::outputs_digest(&Value::Object(outputs.clone())),
            build_tag: format!("platform-live-deploy-{}", k + 1),
            approved_by: (r.id.env == "prod").then(|| "release-manager".to_owned()),
            time: records::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(when)),
            source_commit: commit.to_owned(),
            request_sha256: records::request_digest(bytes),
            destroyed: false,
        };
        let message = meta.message();
        write!(
            stream,
            "tag deploy/{}/{}/1\nfrom {commit}\ntagger Jenkins <jenkins@example.invalid> {when} +0000\ndata {}\n{message}\n",
            r.id.env,
            r.id.name,
            message.len()
        )
        .expect("write");
        if let Some(dir) = state {
            let path = state_path(&r, dir);
            write(
                &path,
                &serde_json::to_string_pretty(&state_of(&r, web, &outputs)).expect("json"),
            );
        }
    }
    let mut stream = stream.into_inner().expect("flush");
    stream.rewind().expect("rewind");
    import_packed(repo, stream);
    order.len()
}

/// Runs the `git fast-import` stream `stream` (tags) into `repo` and leaves every ref packed, as
/// a clone has them. fast-import writes each new ref as a loose file (10,000 directories
/// `refs/tags/deploy/<env>/<name>/` and files) that `git pack-refs` then deletes: on ext4 that
/// create-then-delete of 20,000 inodes took 35 s (bench/README.md: freed inodes are slow to
/// reuse). So the loose refs go to a scratch git directory on tmpfs when there is one, whose
/// objects are the fleet's (GIT_OBJECT_DIRECTORY: the pack lands in the fleet) and which starts
/// with the fleet's packed refs; its `git pack-refs` output is then the fleet's packed-refs.
/// Git writes every byte of it; this only moves the file.
fn import_packed(repo: &Path, stream: std::fs::File) {
    git_stdout(repo, &["pack-refs", "--all"]);
    let git_dir = PathBuf::from(git_stdout(
        repo,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    ));
    let objects = git_dir.join("objects");
    let scratch = match Path::new("/dev/shm") {
        shm if shm.is_dir() => tempfile::Builder::new()
            .prefix("fleetgen-refs-")
            .tempdir_in(shm)
            .or_else(|_| tempfile::tempdir()),
        _ => tempfile::tempdir(),
    }
    .expect("scratch git directory");
    let scratch = scratch.path();
    git_stdout(scratch, &["init", "-q", "--bare"]);
    let packed = git_dir.join("packed-refs");
    std::fs::copy(&packed, scratch.join("packed-refs")).expect("copy packed-refs");
    let in_scratch = |args: &[&str]| {
        let mut c = gitops_tests::git_command(scratch, "fleet");
        c.args(args).env("GIT_OBJECT_DIRECTORY", &objects);
        c
    };
    let mut import = in_scratch(&["fast-import", "--quiet"]);
    import.stdin(stream);
    gitops_tests::git_output(import, &["fast-import"]);
    gitops_tests::git_output(in_scratch(&["pack-refs", "--all"]), &["pack-refs"]);
    let new = git_dir.join("packed-refs.fleetgen");
    std::fs::copy(scratch.join("packed-refs"), &new).expect("copy packed-refs");
    std::fs::rename(&new, &packed).expect("replace packed-refs");
}
