//! `fleetgen`: generates a fleet-scale source-of-truth repository for the benchmarks (issue 7),
//! deterministically from a seed: the example's module repos, 20 components with two package
//! versions each, and N deployments over dev/staging/prod with 3 profiles, committed in batches
//! (a realistic history), then two scenario commits tagged `bench/one` (one deployment changed)
//! and `bench/pkg` (a package used by 500 deployments changed).
//!
//! Usage: fleetgen --out DIR [--deployments N] [--seed S]

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

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

const COMPONENTS: usize = 20;
const SHARED_PACKAGE_USERS: usize = 500;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut out, mut n, mut seed) = (None::<PathBuf>, 10_000usize, 42u64);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--deployments" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--deployments N")
            }
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
            "-h" | "--help" => {
                println!("usage: fleetgen --out DIR [--deployments N] [--seed S]");
                return;
            }
            other => {
                eprintln!("fleetgen: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let out = out.unwrap_or_else(|| {
        eprintln!("fleetgen: --out DIR is required");
        std::process::exit(2)
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("toolkit root")
        .to_path_buf();
    let status = Command::new("bash")
        .arg(root.join("scripts/make-example.sh"))
        .arg(&out)
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
    // 20 components: even ones are web services, odd ones data stores, with two versions each.
    for c in 0..COMPONENTS {
        let (model, _) = if c % 2 == 0 {
            ("web-service", ())
        } else {
            ("data-store", ())
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
        .filter(|c| c % 2 == 0)
        .map(|c| format!("\"c{c:02}\""))
        .collect();
    let data: Vec<String> = (0..COMPONENTS)
        .filter(|c| c % 2 == 1)
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
        let profile = if c % 2 == 0 {
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
        if c % 2 == 0 {
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
    println!("fleet of {n} deployments in {}", repo.display());
}
