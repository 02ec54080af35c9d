//! The toolkit's deployment lock: plan and apply of one deployment never run at the same time.
//! Terraform's own state lock covers remote backends; for the local backend the toolkit adds an
//! OS file lock next to the state file. The lock file holds who has it, so a refused run can name
//! the holder.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A held lock; released on drop (the OS releases it too if the process dies).
#[derive(Debug)]
pub struct DeploymentLock {
    file: File,
    pub path: PathBuf,
}

/// Who holds a lock, as written into the lock file.
pub fn holder_text(command: &str, deployment: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
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

impl DeploymentLock {
    /// Takes the lock at `path`, waiting up to `timeout`. On timeout: exit 3 naming the holder.
    pub fn acquire(path: &Path, timeout: Duration, holder: &str) -> Result<DeploymentLock> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io(path))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if start.elapsed() >= timeout => {
                    match holder_of(&mut file, path)? {
                        Some(who) => {
                            return Err(Error::Refused(format!("the deployment is locked by {who} (lock {}); waited {} s (--lock-timeout)", path.display(), timeout.as_secs())));
                        }
                        // Released while we looked: ours now.
                        None => break,
                    }
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path)(e)),
            }
        }
        file.set_len(0).map_err(Error::io(path))?;
        file.rewind().map_err(Error::io(path))?;
        file.write_all(holder.as_bytes()).map_err(Error::io(path))?;
        file.flush().map_err(Error::io(path))?;
        Ok(DeploymentLock {
            file,
            path: path.to_path_buf(),
        })
    }
}

/// How long a refused run waits for the holder's name: a holder writes it right after it takes
/// the lock, so an empty or half-written file means "just taken", not "no name".
const HOLDER_GRACE: Duration = Duration::from_secs(2);

/// Who holds the lock `file` (held by another process), described; `None` when the lock was
/// released meanwhile and is now held by this process.
fn holder_of(file: &mut File, path: &Path) -> Result<Option<String>> {
    let start = Instant::now();
    loop {
        let mut text = String::new();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut text);
        if serde_json::from_str::<serde_json::Value>(&text).is_ok()
            || start.elapsed() >= HOLDER_GRACE
        {
            return Ok(Some(describe(&text)));
        }
        std::thread::sleep(Duration::from_millis(20));
        match file.try_lock() {
            Ok(()) => return Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path)(e)),
        }
    }
}

fn describe(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => format!(
            "{} (pid {} on {}, user {}, build {})",
            v["command"].as_str().unwrap_or("?"),
            v["pid"],
            v["host"].as_str().unwrap_or("?"),
            v["user"].as_str().unwrap_or("?"),
            v["build_tag"].as_str().unwrap_or("?")
        ),
        Err(_) => "another process".into(),
    }
}

impl Drop for DeploymentLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_refusal_names_a_holder_that_writes_its_name_just_after_locking() {
        // The window a loaded machine opens: the holder has the lock, its name is not written yet.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let holder = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap();
        holder.try_lock().unwrap();
        let mut name_writer = holder.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            name_writer
                .write_all(holder_text("gitops-apply", "dev/web").as_bytes())
                .unwrap();
            name_writer
        });
        let err = DeploymentLock::acquire(&path, Duration::ZERO, "{}").unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains("locked by gitops-apply (pid"),
            "{err}"
        );
        drop(writer.join().unwrap());
        drop(holder);
        // Released while a waiter looks for the name: the waiter takes the lock.
        assert!(DeploymentLock::acquire(&path, Duration::ZERO, "{}").is_ok());
    }
}
