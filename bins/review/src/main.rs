//! `gitops-review`: see `gitops-review --help`. The command layer is in `cmd.rs`.

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Parsed inside run: a binary started as a Vault lease warden has no arguments to parse.
    gitops_cli::run("gitops-review", || cmd::run(cmd::Cli::parse()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::cmd::Cli::command().debug_assert();
    }
}
