//! Servers the tests start (OpenBao, PostgreSQL): on loopback, on a port chosen here, their output
//! kept in memory only (a dev server prints its root token), and never outliving the test binary:
//! each runs under `die-with-parent` (PR_SET_PDEATHSIG), so a test binary that crashes or is
//! SIGKILLed takes its servers with it, and a dropped [`ServerProcess`] stops its server.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most this much of a server's output is kept (the tail), for failure messages.
const KEEP_OUTPUT: usize = 64 * 1024;

/// A server process started by a test; stopped (TERM, then KILL after 10 s) when dropped.
pub struct ServerProcess {
    name: String,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// Values never shown in [`ServerProcess::output`] (tokens, passwords).
    mask: Vec<String>,
}

/// How to run the server's program.
pub struct Spawn<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    /// The server's whole environment (nothing is inherited from the test process).
    pub env: Vec<(String, String)>,
    /// Run as this (uid, gid) (PostgreSQL refuses to run as root).
    pub user: Option<(u32, u32)>,
    pub cwd: Option<&'a Path>,
    /// Masked in the kept output.
    pub mask: Vec<String>,
}

impl ServerProcess {
    pub fn spawn(s: Spawn<'_>) -> std::io::Result<ServerProcess> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(crate::bin("die-with-parent"));
        cmd.arg(s.program)
            .args(&s.args)
            .env_clear()
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .env("GITOPS_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = s.user {
            cmd.uid(uid).gid(gid);
        }
        if let Some(dir) = s.cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn()?;
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = output.clone();
            std::thread::spawn(move || {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    o.extend_from_slice(&buf[..n]);
                    if o.len() > KEEP_OUTPUT {
                        let cut = o.len() - KEEP_OUTPUT;
                        o.drain(..cut);
                    }
                }
            });
        }
        Ok(ServerProcess {
            name: s.name.to_owned(),
            child,
            output,
            mask: s.mask,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the server has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// What the server printed (the last 64 KiB), masked values replaced by `***`.
    pub fn output(&self) -> String {
        (self.output_handle())()
    }

    /// [`ServerProcess::output`] as a function that does not borrow the server (for a readiness
    /// check that waits on what the server prints, while [`wait_ready`] holds the server).
    pub fn output_handle(&self) -> impl Fn() -> String + 'static {
        let (output, mask) = (Arc::clone(&self.output), self.mask.clone());
        move || {
            let raw = output.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut text = String::from_utf8_lossy(&raw).into_owned();
            for m in mask.iter().filter(|m| !m.is_empty()) {
                text = text.replace(m.as_str(), "***");
            }
            text
        }
    }

    /// Sends `signal`, waits up to `grace` for the exit, then SIGKILLs. Idempotent.
    pub fn stop(&mut self, signal: rustix::process::Signal, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, signal);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop(rustix::process::Signal::TERM, Duration::from_secs(10));
    }
}

/// A loopback port `p` such that `p` and `p + 1` were both free a moment ago (OpenBao's dev
/// server also listens on the next port for its cluster). Another process may take it before the
/// server binds it: callers retry with a new port when the server fails to start.
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let Ok(a) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = a.local_addr() else { continue };
        let p = addr.port();
        if p == u16::MAX {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free pair of loopback ports");
}

/// Polls `ready` every 20 ms until it is true, `server` ends, or `timeout` passes (generous: the CI
/// machines are loaded). Err says which, with the server's output.
pub fn wait_ready(
    server: &mut ServerProcess,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = server.exited() {
            // Let the output threads drain.
            std::thread::sleep(Duration::from_millis(50));
            return Err(format!(
                "{} exited ({status}) before it was ready:\n{}",
                server.name(),
                server.output()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{} not ready after {} s:\n{}",
                server.name(),
                timeout.as_secs(),
                server.output()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
