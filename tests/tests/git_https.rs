//! Fetch and push over HTTPS, against a real git server: `git http-backend` behind a TLS server
//! on loopback (tests/src/git_https_server.py) with a self-signed certificate and basic
//! authentication. The toolkit builds libgit2 without its network transports (no OpenSSL start-up
//! in every process, bench B1) and fetches and pushes through the `git` program
//! (core/src/exec/transport.rs); these tests prove that path: the module cache fetching a
//! package's modules over HTTPS with credentials from GITOPS_GIT_USERNAME/PASSWORD (answered by
//! the binary itself as GIT_ASKPASS), certificate verification, and pushes with their rejection
//! handling (a tag or branch someone else pushed first).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_core::exec::git::{Change, GitRepo};
use gitops_core::model::sot::SourceRepo;
use gitops_tests::server::{wait_ready, ServerProcess, Spawn};
use gitops_tests::{git_in, stderr, stdout, toolkit_root, Example};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-https-password";

struct HttpsGit {
    dir: tempfile::TempDir,
    server: ServerProcess,
    port: u16,
}

impl HttpsGit {
    /// A certificate for 127.0.0.1 (openssl), an empty root of bare repositories, the server.
    fn start() -> HttpsGit {
        let dir = tempfile::Builder::new()
            .prefix("gitops-https-")
            .tempdir()
            .expect("tempdir");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl (Debian package openssl; `make deps` installs it)");
        assert!(out.status.success(), "openssl: {}", stderr(&out));
        std::fs::create_dir_all(dir.path().join("srv")).unwrap();
        let python = which("python3");
        let mut server = ServerProcess::spawn(Spawn {
            name: "git HTTPS server",
            program: &python,
            args: vec![
                toolkit_root()
                    .join("tests/src/git_https_server.py")
                    .display()
                    .to_string(),
                dir.path().join("srv").display().to_string(),
                cert.display().to_string(),
                key.display().to_string(),
            ],
            env: vec![
                ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
                ("GIT_HTTPS_USER".into(), USER.into()),
                ("GIT_HTTPS_PASSWORD".into(), PASSWORD.into()),
                ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
            ],
            user: None,
            cwd: Some(dir.path()),
            mask: vec![PASSWORD.into()],
        })
        .expect("start the git HTTPS server");
        // The server prints its port once it listens (it binds port 0: no race for a free one).
        let output = server.output_handle();
        wait_ready(&mut server, Duration::from_secs(60), || {
            listening(&output()).is_some()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let port = listening(&server.output()).expect("port");
        HttpsGit { dir, server, port }
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }

    /// Serves a bare copy (all tags) of the repository at `from` as `/<name>`.
    fn serve(&self, from: &Path, name: &str) {
        let bare = self.dir.path().join("srv").join(name);
        git_in(
            self.dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                from.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
    }

    /// The request lines the server printed for paths starting with `prefix`.
    fn requests(&self, prefix: &str) -> Vec<String> {
        self.server
            .output()
            .lines()
            .filter(|l| l.split(' ').nth(1).is_some_and(|p| p.starts_with(prefix)))
            .map(str::to_owned)
            .collect()
    }
}

fn listening(output: &str) -> Option<u16> {
    output
        .lines()
        .find_map(|l| l.strip_prefix("listening "))
        .and_then(|p| p.trim().parse().ok())
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not found on PATH"))
}

/// The example with its module root moved to the HTTPS server (every module repository served
/// there), committed.
fn example_on_https(srv: &HttpsGit) -> Example {
    let ex = Example::new();
    for entry in std::fs::read_dir(ex.modules()).unwrap() {
        let path = entry.unwrap().path();
        if path.join(".git").exists() {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            srv.serve(&path, &name);
        }
    }
    let toml = std::fs::read_to_string(ex.repo().join("gitops.toml")).unwrap();
    let moved = toml.replace(
        "sandbox = \"../modules\"",
        &format!("sandbox = \"{}\"", srv.url("")),
    );
    assert_ne!(toml, moved, "the example's module root line changed");
    ex.commit_file("gitops.toml", &moved, "modules over HTTPS");
    ex
}

fn render(ex: &Example, env: &[(&str, &str)]) -> std::process::Output {
    let mut c = ex.cmd("gitops-render");
    c.arg("--repo")
        .arg(ex.repo())
        .args(["--out", ex.out().to_str().unwrap(), "dev/web-frontend"]);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run gitops-render")
}

#[test]
fn modules_are_fetched_over_https_with_credentials_from_the_environment() {
    let srv = HttpsGit::start();
    let ex = example_on_https(&srv);
    let cert = srv.cert();
    let cert = cert.to_str().unwrap();

    // The certificate is checked: without its CA, git refuses the server.
    let o = render(
        &ex,
        &[
            ("GITOPS_GIT_USERNAME", USER),
            ("GITOPS_GIT_PASSWORD", PASSWORD),
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains("fetch from https://127.0.0.1") && err.contains("certificate"),
        "{err}"
    );
    assert!(!ex.out().exists(), "nothing written");

    // A wrong password: git's authentication error, named with the URL.
    let o = render(
        &ex,
        &[
            ("GIT_SSL_CAINFO", cert),
            ("GITOPS_GIT_USERNAME", USER),
            ("GITOPS_GIT_PASSWORD", "wrong"),
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("Authentication failed"),
        "{}",
        stderr(&o)
    );
    assert!(!ex.out().exists(), "nothing written");

    // No credentials at all: git does not wait on a prompt, it fails.
    let o = render(&ex, &[("GIT_SSL_CAINFO", cert)]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("could not read Username"),
        "{}",
        stderr(&o)
    );

    // CA and credentials: every module of web-service comes over HTTPS, as user alice.
    let o = render(
        &ex,
        &[
            ("GIT_SSL_CAINFO", cert),
            ("GITOPS_GIT_USERNAME", USER),
            ("GITOPS_GIT_PASSWORD", PASSWORD),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let main = ex.out().join("main.tf.json");
    assert!(main.is_file(), "rendered: {}", stdout(&o));
    for module in ["network", "load-balancer", "compute", "monitoring"] {
        let served = srv.requests(&format!("/{module}/git-upload-pack"));
        assert!(
            served
                .iter()
                .any(|l| l.contains("POST") && l.contains("user=alice status=200")),
            "{module} fetched over HTTPS by alice: {served:?}"
        );
    }
    // The password reached git only through the environment: not in the rendered files.
    let (found, _) = gitops_tests::scan_files_for(ex.dir.path(), &[PASSWORD.to_owned()]);
    assert!(found.is_empty(), "password found in {found:?}");
}

#[test]
fn pushes_over_https_take_the_next_tag_and_reapply_on_a_rejection() {
    let srv = HttpsGit::start();
    let seed = srv.dir.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git_in(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(
        seed.join("gitops.toml"),
        "[module_roots]\nsandbox = \"../m\"\n[backend]\ntype = \"local\"\n",
    )
    .unwrap();
    git_in(&seed, &["add", "."]);
    git_in(&seed, &["commit", "-q", "-m", "init"]);
    srv.serve(&seed, "live.git");
    // Credentials in the remote's URL; the CA for the git children of this process (the library
    // below and these clones) in GIT_SSL_CAINFO, which the machines set to the system bundle and
    // which wins over http.sslCAInfo. Nothing else in this test binary reads it: the renders of the
    // other test run with a cleared environment (Example::cmd).
    std::env::set_var("GIT_SSL_CAINFO", srv.cert());
    let url = format!("https://{USER}:{PASSWORD}@127.0.0.1:{}/live.git", srv.port);
    let clone = |name: &str| -> PathBuf {
        let dir = srv.dir.path().join(name);
        git_in(
            srv.dir.path(),
            &["clone", "-q", &url, dir.to_str().unwrap()],
        );
        dir
    };
    let ours = clone("ours");
    let theirs = clone("theirs");

    // Theirs pushes a tag and a commit first.
    git_in(&theirs, &["tag", "-a", "deploy/dev/web/1", "-m", "theirs"]);
    std::fs::write(theirs.join("theirs.txt"), "theirs\n").unwrap();
    git_in(&theirs, &["add", "."]);
    git_in(&theirs, &["commit", "-q", "-m", "theirs"]);
    git_in(
        &theirs,
        &["push", "-q", "origin", "main", "deploy/dev/web/1"],
    );

    let g = GitRepo::open(&SourceRepo::open(&ours).unwrap()).unwrap();
    let head = g.repo.head().unwrap().target().unwrap();
    let name = g
        .tag_and_push(
            &|g: &GitRepo| {
                let n = (1..)
                    .find(|n| {
                        g.repo
                            .find_reference(&format!("refs/tags/deploy/dev/web/{n}"))
                            .is_err()
                    })
                    .unwrap();
                Ok(format!("deploy/dev/web/{n}"))
            },
            head,
            "ours",
            3,
        )
        .unwrap();
    assert_eq!(name, "deploy/dev/web/2", "took the next sequence number");
    let change = Change {
        path: "records/ours.txt".into(),
        contents: Some(b"ours\n".to_vec()),
    };
    g.commit_and_push(&[change], "ours", 3).unwrap();

    let served = srv.dir.path().join("srv/live.git");
    assert_eq!(
        git_in(&served, &["log", "--format=%s", "main"])
            .lines()
            .collect::<Vec<_>>(),
        vec!["ours", "theirs", "init"],
        "re-applied on their commit"
    );
    assert_eq!(
        git_in(&served, &["tag", "-l", "deploy/*"]).trim(),
        "deploy/dev/web/1\ndeploy/dev/web/2"
    );
    assert!(
        srv.requests("/live.git/git-receive-pack")
            .iter()
            .any(|l| l.contains("user=alice status=200")),
        "pushed over HTTPS"
    );
}
