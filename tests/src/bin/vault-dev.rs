//! `vault-dev`: the Vault the tests use, as a process for the demo and the Jenkins pipeline
//! tests: an OpenBao dev server of its own, seeded with the canary fixture (KV v1/v2, AppRole, JWT
//! auth). See `--help`.

use std::process::ExitCode;

use gitops_tests::vault::{StandinConfig, TestVault};

const HELP: &str = "\
vault-dev: an OpenBao dev server seeded with the tests' canary fixture

USAGE:
    vault-dev [--print-config]

OPTIONS:
    --print-config   after the address line, print the configuration as one line of JSON (it holds
                     the root token, AppRole ids and every secret value: read it from the pipe,
                     never write it to a file)
    -h, --help       print this help

Prints `VAULT_ADDR=http://127.0.0.1:PORT` on stdout, then serves until killed; the server dies with
this process (and this process with its parent). OpenBao is `.tools/bin/bao` (`make tools`) or
GITOPS_TEST_BAO. GITOPS_TEST_VAULT_ADDR/_TOKEN seed an operator's Vault instead.
";

fn main() -> ExitCode {
    let mut print_config = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--print-config" => print_config = true,
            other => {
                eprintln!("vault-dev: unknown argument: {other}\n\n{HELP}");
                return ExitCode::from(2);
            }
        }
    }
    // Die with whoever started us (the demo's shell, the Groovy harness), taking the server along.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM));
    let vault = TestVault::start(StandinConfig::canary());
    // Said first: whoever reads our stdout may look at stderr as soon as the address arrives.
    eprintln!("vault-dev: {}", vault.describe());
    println!("VAULT_ADDR={}", vault.addr());
    if print_config {
        match serde_json::to_string(vault.config()) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("vault-dev: cannot print the configuration: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Serve until a signal ends the process. SIGTERM's default action ends it at once, without
    // running destructors: the server's parent-death signal stops it then.
    loop {
        std::thread::park();
    }
}
