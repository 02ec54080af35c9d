//! `vault-standin`: runs the Vault API stand-in of `gitops_tests::vault` as a process, for demos
//! and manual runs. See `--help`.

use std::process::ExitCode;

use gitops_tests::vault::{StandinConfig, VaultStandin};

const HELP: &str = "\
vault-standin: a HashiCorp Vault HTTP API stand-in for tests (not a Vault)

USAGE:
    vault-standin [--config FILE.json] [--port N] [--addr-file FILE] [--print-config]

OPTIONS:
    --config FILE.json   configuration (gitops_tests::vault::StandinConfig as JSON); default: the
                         canary fixture, with fresh random `canary-` secret values
    --port N             port on 127.0.0.1 (default 0: any free port)
    --addr-file FILE     also write the address (http://127.0.0.1:PORT) to FILE
    --print-config       after the address line, print the configuration as one line of JSON
                         (it holds the root token, AppRole ids and every secret value)
    -h, --help           print this help

Prints `VAULT_ADDR=http://127.0.0.1:PORT` on stdout, then serves until killed.
Fault injection and state: POST/DELETE /__standin/faults, GET /__standin/state.
";

struct Args {
    config: Option<String>,
    port: u16,
    addr_file: Option<String>,
    print_config: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        config: None,
        port: 0,
        addr_file: None,
        print_config: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{what} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--config" => args.config = Some(value("--config")?),
            "--addr-file" => args.addr_file = Some(value("--addr-file")?),
            "--port" => {
                let v = value("--port")?;
                args.port = v.parse().map_err(|_| format!("--port: not a port: {v}"))?;
            }
            "--print-config" => args.print_config = true,
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("vault-standin: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let config = match &args.config {
        None => StandinConfig::canary(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("vault-standin: cannot read {path}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match serde_json::from_str::<StandinConfig>(&text) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("vault-standin: {path} is not a valid configuration: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let standin = match VaultStandin::start_on(config, args.port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "vault-standin: cannot listen on 127.0.0.1:{}: {e}",
                args.port
            );
            return ExitCode::FAILURE;
        }
    };
    if let Some(file) = &args.addr_file {
        if let Err(e) = std::fs::write(file, format!("{}\n", standin.addr)) {
            eprintln!("vault-standin: cannot write {file}: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("VAULT_ADDR={}", standin.addr);
    if args.print_config {
        match serde_json::to_string(&standin.config) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("vault-standin: cannot print the configuration: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Serve until killed (SIGTERM/SIGINT end the process; the OS closes the sockets).
    loop {
        std::thread::park();
    }
}
