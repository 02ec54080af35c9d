//! `die-with-parent PROGRAM [ARGS...]`: runs PROGRAM in this process (exec) after asking the kernel
//! to SIGKILL it when the thread that started us dies (`prctl(PR_SET_PDEATHSIG)`), so a server a
//! test starts (OpenBao, PostgreSQL) never outlives a crashed or killed test binary.
//!
//! `GITOPS_PARENT_PID` must hold the starting process's pid: if that process already died before
//! the death signal was armed (we were re-parented), we exit 1 instead of running PROGRAM. The
//! variable is removed before PROGRAM starts; the rest of the environment passes through.

use std::os::unix::process::CommandExt;
use std::process::Command;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: die-with-parent PROGRAM [ARGS...]  (with GITOPS_PARENT_PID set)");
        std::process::exit(2);
    };
    let expected: Option<i32> = std::env::var("GITOPS_PARENT_PID")
        .ok()
        .and_then(|p| p.parse().ok());
    if let Err(e) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
    {
        eprintln!("die-with-parent: prctl(PR_SET_PDEATHSIG): {e}");
        std::process::exit(1);
    }
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if expected.is_none() || parent != expected {
        eprintln!(
            "die-with-parent: the starting process {expected:?} is gone (parent now {parent:?})"
        );
        std::process::exit(1);
    }
    let err = Command::new(&program)
        .args(args)
        .env_remove("GITOPS_PARENT_PID")
        .exec();
    eprintln!(
        "die-with-parent: cannot run {}: {err}",
        program.to_string_lossy()
    );
    std::process::exit(127);
}
