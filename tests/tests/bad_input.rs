//! Data-driven bad-input corpus for every binary (render, plan, apply, certify, tag, rollback,
//! destroy): every directory of `tests/bad-input/` is one
//! invalid input (a file of the source-of-truth repo, or a command line) with the exit code and the
//! message fragments it must produce. See `tests/bad-input/README.md` for the format.
//!
//! For each case the example is copied into a fresh temporary directory, a valid deployment is
//! rendered there (so the output directory has previous content), the case's overlay and deletions
//! are committed, and the case is run. Besides the exit code and the message, every case proves
//! that nothing was written: the repository (without `.git`), the output root and the state
//! directory are byte-identical before and after, stdout says nothing was rendered, and no file
//! named `pwned` appeared anywhere.
//!
//! `BAD_INPUT_CASE=<substring>` runs only the matching cases; `BAD_INPUT_VERBOSE=1` prints the
//! output of every case.

use gitops_tests::{bin, git_in, snapshot, stderr, stdout, toolkit_root, Example};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The corpus may grow, never silently shrink.
const MIN_CASES: usize = 60;

// ------------------------------------------------------------------------------------------------
// case.toml: a tiny reader for the subset the corpus uses (the test crate has no TOML dependency):
// `key = "basic string" | 'literal string' | integer | true/false | [values...]`, comments, blank
// lines. Anything else is an error, so a typo in a case file cannot go unnoticed.
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Arr(Vec<Val>),
}

struct Reader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Reader<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("line {}: {msg}", self.line))
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    /// Skips spaces and tabs; with `newlines` also newlines and comments.
    fn skip(&mut self, newlines: bool) {
        while let Some(&c) = self.chars.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\n' if newlines => {
                    self.bump();
                }
                '#' if newlines => {
                    while self.chars.peek().is_some_and(|c| *c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn key(&mut self) -> Result<String, String> {
        let mut k = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                k.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if k.is_empty() {
            return self.err("expected a bare key");
        }
        Ok(k)
    }

    fn value(&mut self) -> Result<Val, String> {
        match self.chars.peek().copied() {
            Some('"') => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None | Some('\n') => return self.err("unterminated string"),
                        Some('"') => return Ok(Val::Str(s)),
                        Some('\\') => match self.bump() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some(u @ ('u' | 'U')) => {
                                let n = if u == 'u' { 4 } else { 8 };
                                let hex: String = (0..n).filter_map(|_| self.bump()).collect();
                                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                    Some(c) => s.push(c),
                                    None => return self.err(format!("bad escape \\{u}{hex}")),
                                }
                            }
                            other => return self.err(format!("unsupported escape {other:?}")),
                        },
                        Some(c) => s.push(c),
                    }
                }
            }
            Some('\'') => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None | Some('\n') => return self.err("unterminated string"),
                        Some('\'') => return Ok(Val::Str(s)),
                        Some(c) => s.push(c),
                    }
                }
            }
            Some('[') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip(true);
                    if self.chars.peek() == Some(&']') {
                        self.bump();
                        return Ok(Val::Arr(items));
                    }
                    items.push(self.value()?);
                    self.skip(true);
                    match self.bump() {
                        Some(',') => {}
                        Some(']') => return Ok(Val::Arr(items)),
                        other => {
                            return self
                                .err(format!("expected ',' or ']' in an array, found {other:?}"))
                        }
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c.is_ascii_alphabetic() => {
                let mut word = String::new();
                while self
                    .chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                {
                    word.extend(self.bump());
                }
                match word.as_str() {
                    "true" => Ok(Val::Bool(true)),
                    "false" => Ok(Val::Bool(false)),
                    _ => match word.replace('_', "").parse() {
                        Ok(n) => Ok(Val::Int(n)),
                        Err(_) => self.err(format!("unsupported value {word:?}")),
                    },
                }
            }
            other => self.err(format!("unsupported value starting with {other:?}")),
        }
    }
}

fn parse_case_toml(text: &str) -> Result<BTreeMap<String, Val>, String> {
    let mut r = Reader {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut out = BTreeMap::new();
    loop {
        r.skip(true);
        if r.chars.peek().is_none() {
            return Ok(out);
        }
        let key = r.key()?;
        r.skip(false);
        if r.bump() != Some('=') {
            return r.err(format!("expected '=' after {key}"));
        }
        r.skip(false);
        let value = r.value()?;
        r.skip(false);
        if r.chars.peek() == Some(&'#') {
            while r.chars.peek().is_some_and(|c| *c != '\n') {
                r.bump();
            }
        }
        if !matches!(r.bump(), None | Some('\n')) {
            return r.err(format!("trailing characters after {key}"));
        }
        if out.insert(key.clone(), value).is_some() {
            return r.err(format!("duplicate key {key}"));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Cases
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Generate {
    BinaryJunk,
    Oversized,
    Empty,
}

#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    description: String,
    binary: String,
    args: Vec<String>,
    exit: i32,
    message: Vec<String>,
    delete: Vec<String>,
    generate: Option<(Generate, String)>,
    unset_env: Vec<String>,
    pass_repo: bool,
    /// `symlink = ["<path in the repo>", "<target>"]`: a symbolic link committed at that path.
    symlink: Option<(String, String)>,
    /// `setup = "..."`: the repository's git state, changed after the overlay is committed.
    setup: Option<Setup>,
}

/// The git states a case can put the copied repository in (`setup`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Setup {
    /// `no-commits`: the files, in a repository that has no commit yet.
    NoCommits,
    /// `untracked-in-outer-repo`: the repo's own `.git` removed and a repository created in its
    /// parent directory that does not track it (an untracked folder inside another repository).
    UntrackedInOuterRepo,
    /// `shallow`: the repo replaced by a `--depth 1` clone of itself.
    Shallow,
    /// `detached-head`: HEAD detached at the branch's commit.
    DetachedHead,
}

impl Setup {
    const ALL: [(&'static str, Setup); 4] = [
        ("no-commits", Setup::NoCommits),
        ("untracked-in-outer-repo", Setup::UntrackedInOuterRepo),
        ("shallow", Setup::Shallow),
        ("detached-head", Setup::DetachedHead),
    ];
}

fn load_case(dir: &Path) -> Result<Case, String> {
    let path = dir.join("case.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut map = parse_case_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut take = |key: &str| map.remove(key);
    let string = |key: &str, v: Option<Val>| -> Result<Option<String>, String> {
        match v {
            None => Ok(None),
            Some(Val::Str(s)) => Ok(Some(s)),
            Some(other) => Err(format!(
                "{}: {key} must be a string, found {other:?}",
                path.display()
            )),
        }
    };
    let strings = |key: &str, v: Option<Val>| -> Result<Vec<String>, String> {
        match v {
            None => Ok(Vec::new()),
            Some(Val::Arr(items)) => items
                .into_iter()
                .map(|i| match i {
                    Val::Str(s) => Ok(s),
                    other => Err(format!(
                        "{}: {key} must hold strings, found {other:?}",
                        path.display()
                    )),
                })
                .collect(),
            Some(other) => Err(format!(
                "{}: {key} must be an array, found {other:?}",
                path.display()
            )),
        }
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let description = string("description", take("description"))?
        .ok_or(format!("{}: description is required", path.display()))?;
    let binary = string("binary", take("binary"))?
        .ok_or(format!("{}: binary is required", path.display()))?;
    let args = strings("args", take("args"))?;
    let exit = match take("exit") {
        Some(Val::Int(n)) => {
            i32::try_from(n).map_err(|e| format!("{}: exit: {e}", path.display()))?
        }
        other => {
            return Err(format!(
                "{}: exit must be an integer, found {other:?}",
                path.display()
            ))
        }
    };
    let message = strings("message", take("message"))?;
    if message.is_empty() {
        return Err(format!(
            "{}: message needs at least one fragment",
            path.display()
        ));
    }
    let delete = strings("delete", take("delete"))?;
    let generate = match (
        string("generate", take("generate"))?,
        string("target", take("target"))?,
    ) {
        (None, None) => None,
        (Some(g), Some(t)) => {
            let g = match g.as_str() {
                "binary-junk" => Generate::BinaryJunk,
                "oversized" => Generate::Oversized,
                "empty" => Generate::Empty,
                other => {
                    return Err(format!(
                        "{}: generate {other:?}: allowed are binary-junk, oversized, empty",
                        path.display()
                    ))
                }
            };
            Some((g, t))
        }
        _ => {
            return Err(format!(
                "{}: generate and target go together",
                path.display()
            ))
        }
    };
    let unset_env = strings("unset_env", take("unset_env"))?;
    let pass_repo = match take("pass_repo") {
        None => true,
        Some(Val::Bool(b)) => b,
        Some(other) => {
            return Err(format!(
                "{}: pass_repo must be a boolean, found {other:?}",
                path.display()
            ))
        }
    };
    let symlink = match strings("symlink", take("symlink"))?.as_slice() {
        [] => None,
        [link, target] => Some((link.clone(), target.clone())),
        other => {
            return Err(format!(
                "{}: symlink is [\"<path in the repo>\", \"<target>\"], found {other:?}",
                path.display()
            ))
        }
    };
    let setup = match string("setup", take("setup"))? {
        None => None,
        Some(name) => Some(
            Setup::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| *s)
                .ok_or_else(|| {
                    let known: Vec<&str> = Setup::ALL.iter().map(|(n, _)| *n).collect();
                    format!(
                        "{}: setup {name:?}: allowed are {}",
                        path.display(),
                        known.join(", ")
                    )
                })?,
        ),
    };
    if let Some(key) = map.keys().next() {
        return Err(format!(
            "{}: unknown key {key:?}; allowed: description, binary, args, exit, message, delete, generate, target, unset_env, pass_repo, symlink, setup",
            path.display()
        ));
    }
    for rel in delete
        .iter()
        .chain(generate.iter().map(|(_, t)| t))
        .chain(symlink.iter().map(|(l, _)| l))
    {
        if !safe_rel(rel) {
            return Err(format!(
                "{}: {rel:?} is not a relative path inside the repo",
                path.display()
            ));
        }
    }
    Ok(Case {
        name,
        dir: dir.to_path_buf(),
        description,
        binary,
        args,
        exit,
        message,
        delete,
        generate,
        unset_env,
        pass_repo,
        symlink,
        setup,
    })
}

fn safe_rel(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn corpus_dir() -> PathBuf {
    toolkit_root().join("tests/bad-input")
}

fn load_cases() -> Vec<Result<Case, String>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read tests/bad-input")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|d| {
            let name = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Two digits, or three once the corpus passed 99 cases (sorted by name, 100-... come
            // before 11-...; the numbers only have to be unique).
            let digits = name.bytes().take_while(u8::is_ascii_digit).count();
            let ok = (2..=3).contains(&digits)
                && name.len() > digits + 1
                && name.as_bytes()[digits] == b'-';
            if ok {
                load_case(d)
            } else {
                Err(format!(
                    "{}: case directories are named <NN>-<short-name> (or <NNN>-)",
                    d.display()
                ))
            }
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Running a case
// ------------------------------------------------------------------------------------------------

/// One copy of the materialized example: the same layout as [`Example`], under `root`.
struct Copy {
    root: PathBuf,
}

impl Copy {
    fn repo(&self) -> PathBuf {
        self.root.join("ex/repo")
    }
    fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    fn state(&self) -> PathBuf {
        self.root.join("state")
    }
    fn out(&self) -> PathBuf {
        self.root.join("out")
    }
    fn cwd(&self) -> PathBuf {
        self.root.join("cwd")
    }

    /// Mirrors [`Example::cmd`] for this copy.
    fn cmd(&self, name: &str, unset: &[String]) -> Command {
        let mut c = Command::new(bin(name));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.root)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GITOPS_CACHE_DIR", self.cache())
            .env("GITOPS_STATE_DIR", self.state())
            .env("LC_ALL", "C")
            .current_dir(self.cwd());
        for var in unset {
            c.env_remove(var);
        }
        c
    }
}

/// The valid deployment rendered into `{out}` before every case (`{rendered}` in the arguments).
const PRE_RENDERED: &str = "dev/orders-api";

fn substitute(arg: &str, copy: &Copy) -> String {
    // `{rendered}` first: the pre-rendered deployment of every case (see `run_case`).
    arg.replace(
        "{rendered}",
        &copy.out().join(PRE_RENDERED).to_string_lossy(),
    )
    .replace("{out}", &copy.out().to_string_lossy())
    .replace("{repo}", &copy.repo().to_string_lossy())
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Snapshot of the repository without `.git`.
fn snapshot_repo(repo: &Path) -> BTreeMap<String, String> {
    snapshot(repo)
        .into_iter()
        .filter(|(k, _)| k != ".git/" && !k.starts_with(".git/"))
        .collect()
}

fn diff_snapshots(
    what: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Option<String> {
    if before == after {
        return None;
    }
    let mut lines = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => lines.push(format!("  added    {k}")),
            Some(old) if old != v => lines.push(format!("  modified {k}")),
            _ => {}
        }
    }
    lines.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .map(|k| format!("  removed  {k}")),
    );
    Some(format!("{what} changed:\n{}", lines.join("\n")))
}

/// Files named `pwned` anywhere under `dir` (symlinks are not followed).
fn find_pwned(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().contains("pwned") {
            found.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            find_pwned(&p, found);
        }
    }
}

fn junk() -> Vec<u8> {
    // Starts like TOML, then bytes that are not UTF-8 (a lone continuation byte, an overlong form,
    // 0xFF/0xFE, a truncated sequence) and a NUL.
    let mut b = b"component = \"web-service\"\n".to_vec();
    b.extend_from_slice(&[0x80, 0xC0, 0xAF, 0xFF, 0xFE, 0x00, 0xE2, 0x82, b'\n']);
    b.extend((0u8..=255).rev());
    b
}

/// Applies the case's deletions, overlay and generated file to the copy and commits them.
fn prepare(case: &Case, copy: &Copy) -> Result<(), String> {
    let repo = copy.repo();
    for rel in &case.delete {
        let p = repo.join(rel);
        std::fs::remove_file(&p).map_err(|e| format!("delete {rel}: {e}"))?;
    }
    let files = case.dir.join("files");
    if files.is_dir() {
        let out = Command::new("cp")
            .arg("-R")
            .arg(format!("{}/.", files.display()))
            .arg(&repo)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("copy overlay: {}", stderr(&out)));
        }
    }
    if let Some((g, target)) = &case.generate {
        let p = repo.join(target);
        let bytes = match g {
            Generate::Empty => Vec::new(),
            Generate::BinaryJunk => junk(),
            Generate::Oversized => {
                // Valid TOML (the file as it was, then comment lines) just over 1 MiB: only the
                // size is wrong.
                let mut b = std::fs::read(&p).unwrap_or_default();
                let line = format!("# {}\n", "x".repeat(77));
                while b.len() <= 1024 * 1024 + 4096 {
                    b.extend_from_slice(line.as_bytes());
                }
                b
            }
        };
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, bytes).map_err(|e| format!("write {target}: {e}"))?;
    }
    if let Some((link, target)) = &case.symlink {
        let p = repo.join(link);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::os::unix::fs::symlink(target, &p).map_err(|e| format!("symlink {link}: {e}"))?;
    }
    git_in(&repo, &["add", "-A"]);
    if !git_in(&repo, &["status", "--porcelain"]).is_empty() {
        git_in(
            &repo,
            &["commit", "-q", "-m", &format!("bad input: {}", case.name)],
        );
    }
    if !git_in(&repo, &["status", "--porcelain"]).is_empty() {
        return Err("the copied repo is not clean after committing the overlay".into());
    }
    if let Some(setup) = case.setup {
        set_up(setup, copy)?;
    }
    Ok(())
}

/// Puts the copied repository in the git state `setup` names.
fn set_up(setup: Setup, copy: &Copy) -> Result<(), String> {
    let repo = copy.repo();
    let remove_git =
        || std::fs::remove_dir_all(repo.join(".git")).map_err(|e| format!("remove .git: {e}"));
    match setup {
        Setup::NoCommits => {
            remove_git()?;
            git_in(&repo, &["init", "-q"]);
        }
        Setup::UntrackedInOuterRepo => {
            remove_git()?;
            let outer = repo.parent().ok_or("the repo has no parent")?;
            git_in(outer, &["init", "-q"]);
            std::fs::write(outer.join("README.md"), "the outer repository\n")
                .map_err(|e| e.to_string())?;
            git_in(outer, &["add", "README.md"]);
            git_in(outer, &["commit", "-q", "-m", "outer"]);
        }
        Setup::Shallow => {
            let full = repo.with_extension("full");
            std::fs::rename(&repo, &full).map_err(|e| e.to_string())?;
            let url = format!("file://{}", full.display());
            let parent = repo.parent().ok_or("the repo has no parent")?;
            let path = repo.to_string_lossy().into_owned();
            git_in(parent, &["clone", "-q", "--depth", "1", &url, &path]);
            std::fs::remove_dir_all(&full).map_err(|e| e.to_string())?;
        }
        Setup::DetachedHead => {
            git_in(&repo, &["checkout", "-q", "--detach"]);
        }
    }
    Ok(())
}

/// `git status --porcelain --ignored` of `repo` (of the repository enclosing it, if any).
fn git_status(repo: &Path) -> String {
    git_in(repo, &["status", "--porcelain", "--ignored"])
}

/// Runs one case; `Err` holds everything that went wrong.
fn run_case(case: &Case, example: &Path, log: &mut String) -> Result<(), String> {
    let tmp = tempfile::Builder::new()
        .prefix("gitops-bad-input-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let copy = Copy {
        root: tmp.path().to_path_buf(),
    };
    let cp = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", example.display()))
        .arg(&copy.root)
        .output()
        .map_err(|e| e.to_string())?;
    if !cp.status.success() {
        return Err(format!("cp -a failed: {}", stderr(&cp)));
    }
    std::fs::create_dir_all(copy.cwd()).map_err(|e| e.to_string())?;

    // A previous, valid render: the out dir must survive the bad input untouched.
    let out_dir = copy.out().join(PRE_RENDERED);
    let pre = copy
        .cmd("gitops-render", &[])
        .arg("--repo")
        .arg(copy.repo())
        .arg(PRE_RENDERED)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !pre.status.success() || !out_dir.join("main.tf.json").is_file() {
        return Err(format!(
            "pre-render of dev/orders-api failed:\n{}",
            show(&pre)
        ));
    }

    prepare(case, &copy)?;

    let status_before = git_status(&copy.repo());
    let repo_before = snapshot_repo(&copy.repo());
    let out_before = snapshot(&copy.out());
    let state_before = snapshot(&copy.state());

    let mut cmd = copy.cmd(&case.binary, &case.unset_env);
    if case.pass_repo {
        cmd.arg("--repo").arg(copy.repo());
    }
    cmd.args(case.args.iter().map(|a| substitute(a, &copy)));
    let o = cmd
        .output()
        .map_err(|e| format!("run {}: {e}", case.binary))?;
    *log = format!("=== {} ({})\n{}", case.name, case.description, show(&o));

    let mut problems = Vec::new();
    if o.status.code() != Some(case.exit) {
        problems.push(format!(
            "exit code {:?}, expected {}",
            o.status.code(),
            case.exit
        ));
    }
    let err = stderr(&o);
    for fragment in &case.message {
        if !err.contains(fragment.as_str()) {
            problems.push(format!("stderr lacks {fragment:?}"));
        }
    }
    if stdout(&o).contains("rendered") {
        problems.push("stdout says something was rendered".into());
    }
    for (what, before, after) in [
        (
            "repo (without .git)",
            repo_before,
            snapshot_repo(&copy.repo()),
        ),
        ("out", out_before, snapshot(&copy.out())),
        ("state", state_before, snapshot(&copy.state())),
    ] {
        problems.extend(diff_snapshots(what, &before, &after));
    }
    // Clean before the run (the overlay is committed) except for a `setup` that leaves files
    // untracked on purpose (no commits, an outer repository): the run must not change it.
    if git_status(&copy.repo()) != status_before {
        problems.push("the repo has untracked or modified files after the run".into());
    }
    let mut pwned = Vec::new();
    find_pwned(&copy.root, &mut pwned);
    if let Ok(cwd) = std::env::current_dir() {
        find_pwned(&cwd, &mut pwned);
    }
    if !pwned.is_empty() {
        problems.push(format!("a shell command ran: {pwned:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", problems.join("\n"), show(&o)))
    }
}

/// The output of a case (for `BAD_INPUT_VERBOSE`) and what went wrong.
type CaseResult = (String, Result<(), String>);

#[test]
fn bad_input_corpus() {
    let started = Instant::now();
    let filter = std::env::var("BAD_INPUT_CASE")
        .ok()
        .filter(|f| !f.is_empty());
    let verbose = std::env::var_os("BAD_INPUT_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0");
    let cases = load_cases();
    let mut failures: Vec<String> = cases
        .iter()
        .filter_map(|c| c.as_ref().err())
        .map(|e| format!("invalid case: {e}"))
        .collect();
    let selected: Vec<&Case> = cases
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
        .collect();
    if filter.is_none() {
        assert!(
            cases.len() >= MIN_CASES,
            "the corpus has {} cases; at least {MIN_CASES} expected",
            cases.len()
        );
    }

    // The example is materialized once; each case works on its own copy, so cases run in parallel
    // (most of the time goes to copying and git, not CPU).
    let example = Example::new();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        * 2;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<BTreeMap<usize, CaseResult>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = selected.get(i) else { break };
                let mut log = String::new();
                let result = run_case(case, example.dir.path(), &mut log);
                results
                    .lock()
                    .expect("results lock")
                    .insert(i, (log, result));
            });
        }
    });
    let results = results.into_inner().expect("results lock");
    for (i, (log, result)) in results {
        let case = selected[i];
        if verbose {
            eprintln!("{log}");
        }
        if let Err(e) = result {
            failures.push(format!("case {} ({}):\n{e}", case.name, case.description));
        }
    }
    eprintln!(
        "bad-input corpus: {} case(s) in {:.1?}",
        selected.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} bad-input case(s) failed:\n\n{}",
        failures.len(),
        selected.len(),
        failures.join("\n\n")
    );
}
