//! SIGTERM and SIGINT (a Jenkins abort, Ctrl-C): what a binary does when it is asked to stop.
//!
//! [`install`] (called once by every binary, in `gitops_cli::run`) sets an async-signal-safe
//! handler that only records the signal. What happens next depends on whether the process is in
//! a *deferred* section ([`Deferred`]): one exists while a [`Terraform`](super::terraform::Terraform)
//! value lives, i.e. from the Vault login of a plan or apply until the Vault session was closed.
//!
//! - Not deferred (render, a wait for the deployment lock, git work): the handler restores the
//!   default action and raises the signal again, so the process ends at once as before.
//! - Deferred: the signal is recorded. A running Terraform gets it forwarded (as one SIGINT, its
//!   graceful stop) and is waited for ([`crate::exec::terraform`]); no new Terraform starts; the
//!   operation unwinds with [`Error::Interrupted`] (exit 1), which revokes the Vault leases and
//!   token and releases the deployment lock after the child is gone.
//!
//! A second signal while deferred changes nothing (Terraform stops immediately, possibly losing
//! state, on a second interrupt, so it is never forwarded twice); SIGKILL ends the wait.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The SIGTERM/SIGINT received last (0: none).
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// True while no [`Deferred`] guard is alive: a signal then ends the process (default action).
static NOT_DEFERRED: AtomicBool = AtomicBool::new(true);
/// How many [`Deferred`] guards are alive.
static DEFERRED: Mutex<usize> = Mutex::new(0);

/// Installs the SIGTERM/SIGINT handlers (idempotent). The handlers (signal-hook's, async-signal
/// safe) only store the signal number and, outside a deferred section, run the default action.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // The order of the two actions matters: the signal is recorded, then the process
            // ends unless it is deferred. (A later signal overwrites the number.)
            let _ = signal_hook::flag::register_usize(sig, &RECEIVED, sig as usize);
            let _ = signal_hook::flag::register_conditional_default(sig, &NOT_DEFERRED);
        }
    });
}

/// The signal received, if any (`SIGTERM` or `SIGINT`).
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => i32::try_from(s).ok(),
    }
}

/// `SIGTERM`, `SIGINT`, ... for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The error of an operation stopped by `sig`; `detail` says what was stopped.
pub fn interrupted(sig: i32, detail: impl Into<String>) -> Error {
    Error::Interrupted {
        signal: name(sig),
        detail: detail.into(),
    }
}

/// `Err(Interrupted)` when a signal was received: called before anything that must not start
/// after an abort (a Terraform run). `next` names it ("terraform plan in <dir>").
pub fn check(next: &str) -> Result<()> {
    match received() {
        Some(sig) => Err(interrupted(sig, format!("{next} was not started"))),
        None => Ok(()),
    }
}

/// Sets (or with 0 clears) the received signal, as the handler does: for tests.
#[cfg(test)]
pub(crate) fn set_received(sig: i32) {
    RECEIVED.store(usize::try_from(sig).unwrap_or(0), Ordering::SeqCst);
}

/// While one of these lives, SIGTERM/SIGINT are recorded instead of ending the process.
#[derive(Debug)]
pub struct Deferred(());

impl Deferred {
    pub fn new() -> Deferred {
        let mut n = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        NOT_DEFERRED.store(false, Ordering::SeqCst);
        Deferred(())
    }
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred::new()
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        let mut n = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            NOT_DEFERRED.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_the_interrupted_error() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGINT), "SIGINT");
        let e = interrupted(libc::SIGTERM, "terraform apply in /x stopped");
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.to_string(),
            "interrupted by SIGTERM: terraform apply in /x stopped"
        );
    }
}
