//! Fetch and push through the `git` program; everything else stays in libgit2.
//!
//! libgit2 built with its `https` feature initialises OpenSSL and loads the system CA bundle when
//! the library starts, in every process that opens a repository: about 35 ms, most of a
//! `--changed-since` run, paid whether or not anything goes to the network (bench/README.md, B1).
//! The toolkit builds git2 without its network transports, so reading repositories costs no TLS,
//! and hands the few network operations (module mirror fetches, the pushes of commits and tags,
//! the fetch after a rejected push) to `git`, which loads TLS only for an `https` remote and
//! brings what platform teams already configure for it: credential helpers, `http.sslCAInfo`,
//! proxies, OpenSSH and its agent.
//!
//! Every call is an argument vector with `--` before the remote and refspecs. Vault's login
//! material is withheld from git's environment, as from Terraform's. A username and password for
//! HTTPS (`GITOPS_GIT_USERNAME`/`GITOPS_GIT_PASSWORD`, e.g. from Vault through Jenkins) reach git
//! through `GIT_ASKPASS` pointing at the running toolkit binary, which answers git's prompt from
//! its own environment ([`askpass`]): no file, no argument carries them. Git never prompts on a
//! terminal (`GIT_TERMINAL_PROMPT=0`): without credentials a fetch fails with git's message.

use crate::error::{Error, GitError, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// Set in git's environment when it runs the toolkit binary as its `GIT_ASKPASS` program.
pub const ASKPASS_ENV: &str = "GITOPS_GIT_ASKPASS";
/// The HTTPS username and password (or token) the toolkit gives git when a remote asks.
pub const USERNAME_ENV: &str = "GITOPS_GIT_USERNAME";
pub const PASSWORD_ENV: &str = "GITOPS_GIT_PASSWORD";

/// Outcome of one push.
pub(crate) enum Pushed {
    Ok,
    /// The remote refused a ref (not a fast-forward, a tag that exists): git's reason.
    Rejected(String),
}

/// `git` in `git_dir` (a work tree or a bare mirror), with the environment described above.
fn git(git_dir: &Path) -> Result<Command> {
    let program = which::which("git").map_err(|_| {
        Error::Process(
            "git: the `git` program is needed to fetch and push and was not found on PATH"
                .to_owned(),
        )
    })?;
    let mut cmd = Command::new(program);
    cmd.arg("-C").arg(git_dir);
    for var in crate::exec::terraform::WITHHELD {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    if std::env::var_os(USERNAME_ENV).is_some() && std::env::var_os(PASSWORD_ENV).is_some() {
        if let Ok(me) = std::env::current_exe() {
            cmd.env("GIT_ASKPASS", me).env(ASKPASS_ENV, "1");
        }
    }
    Ok(cmd)
}

fn run(mut cmd: Command, what: String) -> Result<std::process::Output> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.output().map_err(|e| {
        Error::Git(GitError::Other {
            target: what,
            message: format!("could not run git: {e}"),
        })
    })
}

fn failed(what: String, out: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    Error::Git(GitError::Other {
        target: what,
        message: format!(
            "git exited with {}: {}",
            out.status.code().unwrap_or(-1),
            stderr.trim()
        ),
    })
}

/// Fetches `specs` from `remote` (a remote's name or a URL) into the repository at `git_dir`.
pub(crate) fn fetch(git_dir: &Path, remote: &str, specs: &[&str]) -> Result<()> {
    let mut cmd = git(git_dir)?;
    cmd.args([
        "fetch",
        "--quiet",
        "--no-write-fetch-head",
        "--no-auto-gc",
        "--",
    ])
    .arg(remote)
    .args(specs);
    let what = format!("fetch from {remote}");
    let out = run(cmd, what.clone())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(what, &out))
    }
}

/// Pushes `specs` to `remote`. A refused ref is [`Pushed::Rejected`] (the caller fetches and tries
/// again); any other failure (no such remote, authentication, network) is an error.
pub(crate) fn push(git_dir: &Path, remote: &str, specs: &[String]) -> Result<Pushed> {
    let mut cmd = git(git_dir)?;
    cmd.args(["push", "--porcelain", "--quiet", "--"])
        .arg(remote)
        .args(specs);
    let what = format!("push to {remote}");
    let out = run(cmd, what.clone())?;
    if let Some(reason) = rejected(&String::from_utf8_lossy(&out.stdout)) {
        return Ok(Pushed::Rejected(reason));
    }
    if out.status.success() {
        Ok(Pushed::Ok)
    } else {
        Err(failed(what, &out))
    }
}

/// The refused refs in `git push --porcelain` output: lines `!<TAB>from:to<TAB>summary (reason)`.
fn rejected(porcelain: &str) -> Option<String> {
    let refused: Vec<String> = porcelain
        .lines()
        .filter_map(|l| l.strip_prefix("!\t"))
        .map(|l| {
            let mut parts = l.splitn(2, '\t');
            let refs = parts.next().unwrap_or_default();
            let to = refs.rsplit(':').next().unwrap_or(refs);
            format!("{to}: {}", parts.next().unwrap_or("rejected").trim())
        })
        .collect();
    (!refused.is_empty()).then(|| refused.join("; "))
}

/// The toolkit binary run by git as `GIT_ASKPASS`: git passes its prompt ("Username for
/// 'https://host': ", "Password for 'https://user@host': ") as the one argument and reads the
/// answer from standard output. Returns the exit code.
pub fn askpass() -> u8 {
    let prompt = std::env::args().nth(1).unwrap_or_default();
    let var = if prompt.starts_with("Username") {
        USERNAME_ENV
    } else {
        PASSWORD_ENV
    };
    match std::env::var(var) {
        Ok(value) => {
            println!("{value}");
            0
        }
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::rejected;

    #[test]
    fn porcelain_rejections_name_the_ref_and_reason() {
        let out = "To /tmp/origin.git\n\
                   =\trefs/heads/a:refs/heads/a\t[up to date]\n\
                   !\trefs/tags/deploy/dev/web/1:refs/tags/deploy/dev/web/1\t[rejected] (already exists)\n\
                   !\trefs/heads/main:refs/heads/main\t[rejected] (fetch first)\n\
                   Done\n";
        assert_eq!(
            rejected(out).as_deref(),
            Some(
                "refs/tags/deploy/dev/web/1: [rejected] (already exists); \
                 refs/heads/main: [rejected] (fetch first)"
            )
        );
        assert_eq!(
            rejected("To x\n*\trefs/heads/main:refs/heads/main\t[new branch]\nDone\n"),
            None
        );
    }
}
