//! `gitops-destroy`: see `gitops-destroy --help`. All the work is in `gitops_core::lifecycle::destroy`.

use clap::Parser;
use gitops_core::lifecycle::destroy::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-destroy", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::lifecycle::destroy::Cli::command().debug_assert();
    }
}
