//! `gitops-certify`: see `gitops-certify --help`. The command layer is in `cmd.rs`.

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    gitops_cli::run("gitops-certify", || cmd::run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::cmd::Cli::command().debug_assert();
    }
}
