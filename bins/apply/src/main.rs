//! `gitops-apply`: see `gitops-apply --help`. All the work is in `gitops_core::apply_cmd`.

use clap::Parser;
use gitops_core::apply_cmd::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-apply", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::apply_cmd::Cli::command().debug_assert();
    }
}
