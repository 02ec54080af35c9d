//! `gitops-tag`: see `gitops-tag --help`. All the work is in `gitops_core::lifecycle::tag_cmd`.

use clap::Parser;
use gitops_core::lifecycle::tag_cmd::{run, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    gitops_core::cli::run("gitops-tag", || run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        gitops_core::lifecycle::tag_cmd::Cli::command().debug_assert();
    }
}
