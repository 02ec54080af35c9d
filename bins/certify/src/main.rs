//! `gitops-certify`: see `gitops-certify --help`. All the work is in `gitops_core::certify::cmd`.

use clap::Parser;
use gitops_core::certify::cmd::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-certify", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::certify::cmd::Cli::command().debug_assert();
    }
}
