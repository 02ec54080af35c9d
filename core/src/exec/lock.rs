//! The toolkit's deployment lock: plan and apply of one deployment never run at the same time.
//! Terraform's own state lock covers remote backends; for the local backend the toolkit adds an
//! OS file lock next to the state file. The lock file holds who has it, so a refused run can name
//! the holder.
//!
//! The holder's identity is complete before the lock can be observed: each run writes it into a
//! file of its own, locks that file (`flock`) and only then puts it at the lock's path (a hard
//! link where there is none, else an atomic rename over a file whose holder is gone, done while
//! holding that file's lock). So whoever holds the lock on the file at the path is the holder,
//! and that file always names it. A holder removes the path before it unlocks.
//!
//! The descriptor is inherited by child processes: when the toolkit process is killed, the lock
//! stays held until the Terraform it started has exited too (docs/reliability.md).

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released on drop (the OS releases it too once the process and the children that
/// inherited it have died).
#[derive(Debug)]
pub struct DeploymentLock {
    file: File,
    pub path: PathBuf,
    /// Unlock and remove the path on drop (not after [`DeploymentLock::abandon`]).
    release: bool,
}

/// Who holds a lock, as written into the lock file.
pub fn holder_text(command: &str, deployment: &str) -> String {
    let host = hostname();
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let build = std::env::var("BUILD_TAG").unwrap_or_else(|_| "local".into());
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    serde_json::json!({ "command": command, "deployment": deployment, "pid": std::process::id(), "host": host, "user": user, "build_tag": build, "since_unix": since }).to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// What one look at the lock's path found.
enum Seen {
    /// Our file is at the path: the lock is ours.
    Mine,
    /// Held by another process; its file, to name the holder.
    Held(File),
    /// Changed while we looked: look again.
    Again,
}

impl DeploymentLock {
    /// Takes the lock at `path`, waiting up to `timeout`. On timeout: exit 3 naming the holder.
    pub fn acquire(path: &Path, timeout: Duration, holder: &str) -> Result<DeploymentLock> {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        // Our candidate: the holder's identity written and the file locked before anyone can
        // see it at `path`.
        let name = path
            .file_name()
            .map(|n| format!(".{}.", n.to_string_lossy()))
            .unwrap_or_else(|| ".lock.".into());
        let candidate = tempfile::Builder::new()
            .prefix(&name)
            .tempfile_in(parent)
            .map_err(Error::io(parent))?;
        let (mut file, temp) = candidate.into_parts();
        // Readable by others, like the lock files before: a refused run of another user names
        // the holder too.
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(Error::io(&*temp))?;
        }
        file.write_all(holder.as_bytes())
            .and_then(|()| file.flush())
            .map_err(Error::io(&temp))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Process(format!(
                    "{}: a fresh lock file is locked already",
                    temp.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&*temp)(e)),
        }
        // Inherited by children (Terraform): not closed on exec.
        rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()).map_err(|e| Error::Io {
            path: temp.to_path_buf(),
            source: e.into(),
        })?;
        let start = Instant::now();
        loop {
            match look(path, &temp)? {
                Seen::Mine => {
                    // The temporary name goes (a rename moved it already).
                    drop(temp);
                    return Ok(DeploymentLock {
                        file,
                        path: path.to_path_buf(),
                        release: true,
                    });
                }
                Seen::Held(mut other) if start.elapsed() >= timeout => {
                    let mut text = String::new();
                    let _ = other.read_to_string(&mut text);
                    return Err(Error::Refused(format!(
                        "the deployment is locked by {} (lock {}); waited {} s (--lock-timeout)",
                        describe(&text),
                        path.display(),
                        timeout.as_secs()
                    )));
                }
                Seen::Held(_) => std::thread::sleep(Duration::from_millis(100)),
                Seen::Again => {}
            }
        }
    }

    /// Closes the lock's descriptor without unlocking or removing it, as a killed process does:
    /// the lock stays held while a child that inherited the descriptor lives. For tests.
    pub fn abandon(mut self) {
        self.release = false;
    }
}

/// Is `file` the file now at `path`?
fn is_at(file: &File, path: &Path) -> Result<bool> {
    let mine = file.metadata().map_err(Error::io(path))?;
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.dev() == mine.dev() && m.ino() == mine.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path)(e)),
    }
}

/// One look at `path`: take it with our `candidate` file when it is free, else say who has it.
fn look(path: &Path, candidate: &Path) -> Result<Seen> {
    let existing = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match std::fs::hard_link(candidate, path) {
                Ok(()) => Ok(Seen::Mine),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Seen::Again),
                Err(e) => Err(Error::io(path)(e)),
            };
        }
        Err(e) => return Err(Error::io(path)(e)),
    };
    match existing.try_lock() {
        Err(std::fs::TryLockError::WouldBlock) => Ok(if is_at(&existing, path)? {
            Seen::Held(existing)
        } else {
            Seen::Again
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(path)(e)),
        // Nobody holds it: its holder died (or an older toolkit left it). Replaced while we
        // hold its lock, so two runs never both replace it.
        Ok(()) => {
            if !is_at(&existing, path)? {
                return Ok(Seen::Again);
            }
            std::fs::rename(candidate, path).map_err(Error::io(path))?;
            Ok(Seen::Mine)
        }
    }
}

fn describe(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => {
            let mut who = format!(
                "{} (pid {} on {}, user {}, build {})",
                v["command"].as_str().unwrap_or("?"),
                v["pid"],
                v["host"].as_str().unwrap_or("?"),
                v["user"].as_str().unwrap_or("?"),
                v["build_tag"].as_str().unwrap_or("?")
            );
            let gone = v["host"].as_str() == Some(hostname().as_str())
                && v["pid"]
                    .as_u64()
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if gone {
                who.push_str(", which has exited; a Terraform it started still runs and holds the lock until it ends");
            }
            who
        }
        Err(_) => "another process".into(),
    }
}

impl Drop for DeploymentLock {
    fn drop(&mut self) {
        if !self.release {
            return;
        }
        // The path first, then the lock: a waiter that opened this file sees it is gone.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// The holder text of the deployment lock at `path` when it is held, read-only: its file exists
/// and the kernel lists a lock on that file (`/proc/locks`). The lock is never tried, so a
/// concurrent run with `--lock-timeout 0` cannot find it taken by the reader. A file nobody
/// locks was left by a killed run (the next run takes it over): not held. Where `/proc/locks`
/// cannot be read, an existing file counts as held.
pub fn held_by(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let m = std::fs::metadata(path).ok()?;
    // The kernel hands /proc/locks out a page at a time and finds its place again by line number:
    // a lock taken or released elsewhere between two pages shifts the lines, so one read can miss
    // a line (seen on a loaded machine). A lock is "not held" only when three reads miss it.
    for _ in 0..3 {
        match std::fs::read_to_string("/proc/locks") {
            Ok(locks) if locked_in(&locks, m.dev(), m.ino()) => return Some(text),
            Ok(_) => {}
            Err(_) => return Some(text),
        }
    }
    None
}

/// Whether `/proc/locks` (`1: FLOCK  ADVISORY  WRITE 123 fe:00:456 0 EOF`) holds a lock on the
/// file of device `dev` and inode `ino`.
fn locked_in(locks: &str, dev: u64, ino: u64) -> bool {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    locks.lines().any(|line| {
        line.split_whitespace().any(|field| {
            let mut parts = field.split(':');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(ma), Some(mi), Some(i), None) => {
                    u64::from_str_radix(ma, 16) == Ok(major)
                        && u64::from_str_radix(mi, 16) == Ok(minor)
                        && i.parse::<u64>() == Ok(ino)
                }
                _ => false,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_by_reads_the_holder_only_while_the_kernel_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        assert_eq!(held_by(&path), None, "no file");
        let held = DeploymentLock::acquire(
            &path,
            Duration::ZERO,
            &holder_text("gitops-apply", "dev/web"),
        )
        .unwrap();
        let text = held_by(&path).expect("held");
        assert!(text.contains("gitops-apply"), "{text}");
        drop(held);
        std::fs::write(&path, "{}").unwrap();
        assert_eq!(held_by(&path), None, "a file nobody locks is not held");
        // /proc/locks' device field is major:minor (hex) then the inode.
        assert!(locked_in(
            "1: FLOCK  ADVISORY  WRITE 7 fe:01:42 0 EOF",
            0xfe01,
            42
        ));
        assert!(!locked_in(
            "1: FLOCK  ADVISORY  WRITE 7 fe:01:42 0 EOF",
            0xfe01,
            43
        ));
    }

    #[test]
    fn second_lock_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = DeploymentLock::acquire(
            &path,
            Duration::ZERO,
            &holder_text("gitops-apply", "dev/web"),
        )
        .unwrap();
        let err = DeploymentLock::acquire(&path, Duration::from_millis(300), "{}").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let msg = err.to_string();
        assert!(
            msg.contains("gitops-apply") && msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        drop(held);
        assert!(DeploymentLock::acquire(&path, Duration::ZERO, "{}").is_ok());
    }

    #[test]
    fn every_refusal_names_the_holder_however_runs_interleave() {
        // Threads take and release one lock as fast as they can; a refused one must always name
        // the holder: there is no moment where the lock is held and its file is not complete.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let refusals = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..8 {
                let (path, refusals) = (&path, &refusals);
                s.spawn(move || {
                    for _ in 0..150 {
                        match DeploymentLock::acquire(
                            path,
                            Duration::ZERO,
                            &holder_text(&format!("runner-{t}"), "dev/web"),
                        ) {
                            Ok(held) => drop(held),
                            Err(e) => {
                                let msg = e.to_string();
                                assert!(
                                    msg.contains("locked by runner-") && msg.contains("(pid "),
                                    "{msg}"
                                );
                                refusals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        // Nothing left behind: the path and every candidate file are gone.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        // (How many were refused depends on the scheduling; usually hundreds.)
        let _ = refusals.into_inner();
    }

    #[test]
    fn a_lock_left_by_a_dead_holder_or_an_older_toolkit_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // An older toolkit's empty lock file, not locked by anyone.
        std::fs::write(&path, "").unwrap();
        let held =
            DeploymentLock::acquire(&path, Duration::ZERO, &holder_text("a", "dev/web")).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("\"command\":\"a\""));
        drop(held);
        assert!(!path.exists());
    }

    #[test]
    fn the_lock_stays_held_while_a_child_that_inherited_it_lives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = DeploymentLock::acquire(
            &path,
            Duration::ZERO,
            &holder_text("gitops-apply", "dev/web"),
        )
        .unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        // This process "dies": its descriptor is closed without unlocking.
        held.abandon();
        let err = DeploymentLock::acquire(&path, Duration::ZERO, "{}").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("locked by gitops-apply"), "{err}");
        child.kill().unwrap();
        child.wait().unwrap();
        let again = DeploymentLock::acquire(&path, Duration::ZERO, &holder_text("b", "dev/web"));
        assert!(again.is_ok(), "{again:?}");
    }
}
