//! `gitops-rollback`: see `gitops-rollback --help`. All the work is in `gitops_core::lifecycle::rollback`.

use clap::Parser;
use gitops_core::lifecycle::rollback::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-rollback", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::lifecycle::rollback::Cli::command().debug_assert();
    }
}
