//! `gitops-certify`: see `gitops-certify --help`. The command layer is in `cmd.rs`.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::parse();
    gitops_cli::run("gitops-certify", || cmd::run(cli))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        super::cmd::command().debug_assert();
    }
}
