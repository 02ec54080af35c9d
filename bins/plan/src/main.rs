//! `gitops-plan`: see `gitops-plan --help`. All the work is in `gitops_core::plan_cmd`.

use clap::Parser;
use gitops_core::plan_cmd::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-plan", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::plan_cmd::Cli::command().debug_assert();
    }
}
