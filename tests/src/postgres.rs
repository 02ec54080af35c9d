//! A PostgreSQL cluster for the database secrets engine tests: `initdb` into a temporary
//! directory, `postgres` on a loopback port chosen here (no Unix socket), stopped when dropped and
//! killed with the test binary (see [`crate::server`]). As root (CI), it runs as the `postgres`
//! user, which Debian's package creates.
//!
//! Authentication: the superuser `gitops_admin` is trusted on 127.0.0.1 (the tests and OpenBao's
//! database plugin connect as it without a password, so no password is written anywhere); every
//! other role (the dynamic ones Vault creates) must give its password (scram-sha-256).
//!
//! The binaries: `GITOPS_TEST_PG_BINDIR`, else the newest `/usr/lib/postgresql/<v>/bin`, else PATH.

use crate::server::{free_port_pair, wait_ready, ServerProcess, Spawn};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The superuser of the test cluster.
pub const SUPERUSER: &str = "gitops_admin";

/// Where `initdb`, `postgres` and `psql` are, or why they are not.
pub fn bindir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("GITOPS_TEST_PG_BINDIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|d| d.join("initdb").is_file())
        .ok_or_else(|| {
            "PostgreSQL not found: `make tools` installs Debian's postgresql, or set \
             GITOPS_TEST_PG_BINDIR"
                .to_owned()
        })
}

/// uid and gid of a user in /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A running PostgreSQL cluster.
pub struct Postgres {
    pub port: u16,
    bindir: PathBuf,
    process: ServerProcess,
    dir: tempfile::TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bindir = bindir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("gitops-postgres-")
            .tempdir()
            .expect("tempdir");
        let user = if rustix::process::geteuid().is_root() {
            let ids = user_ids("postgres")
                .expect("running as root, PostgreSQL needs the `postgres` user (Debian's postgresql package creates it)");
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1)).expect("chown");
            Some(ids)
        } else {
            None
        };
        let data = dir.path().join("data");
        let mut initdb = Command::new(bindir.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"])
            .args(["--no-instructions", "--locale=C"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(dir.path());
        if let Some((uid, gid)) = user {
            use std::os::unix::process::CommandExt;
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "host all {SUPERUSER} 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
            ),
        )
        .expect("write pg_hba.conf");
        let mut last = String::new();
        for _ in 0..8 {
            let port = free_port_pair();
            let mut process = ServerProcess::spawn(Spawn {
                name: "PostgreSQL",
                program: &bindir.join("postgres"),
                args: vec![
                    "-D".into(),
                    data.to_string_lossy().into_owned(),
                    "-p".into(),
                    port.to_string(),
                    "-c".into(),
                    "listen_addresses=127.0.0.1".into(),
                    "-c".into(),
                    "unix_socket_directories=".into(),
                    "-c".into(),
                    "fsync=off".into(),
                    "-c".into(),
                    "max_connections=50".into(),
                ],
                env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                user,
                cwd: Some(dir.path()),
                mask: Vec::new(),
            })
            .expect("start postgres");
            let psql = bindir.join("psql");
            let ready = wait_ready(&mut process, Duration::from_secs(60), || {
                psql_at(&psql, port, "SELECT 1").is_ok_and(|o| o.trim() == "1")
            });
            match ready {
                Ok(()) => {
                    return Postgres {
                        port,
                        bindir,
                        process,
                        dir,
                    }
                }
                Err(e) if e.contains("already in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("PostgreSQL could not bind a port in 8 attempts:\n{last}");
    }

    /// Runs one SQL statement as the superuser; its rows, `|`-separated, one per line.
    pub fn sql(&self, sql: &str) -> String {
        psql_at(&self.bindir.join("psql"), self.port, sql).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Login roles whose name starts with `prefix` (Vault's dynamic users start with `v-`).
    pub fn roles_like(&self, prefix: &str) -> Vec<String> {
        let escaped = prefix
            .replace('\'', "''")
            .replace('_', "\\_")
            .replace('%', "\\%");
        self.sql(&format!(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE '{escaped}%' ORDER BY 1"
        ))
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
    }

    /// What Vault's database plugin connects with (`{{username}}` is the superuser, no password).
    pub fn connection_url(&self) -> String {
        format!(
            "postgresql://{{{{username}}}}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Whether `user` can log in with `password` (given to psql through its environment).
    pub fn can_log_in(&self, user: &str, password: &str) -> bool {
        Command::new(self.bindir.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user])
            .args(["-d", "postgres", "-Atqc", "SELECT 1"])
            .env_clear()
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        self.process
            .stop(rustix::process::Signal::INT, Duration::from_secs(20));
    }
}

fn psql_at(psql: &Path, port: u16, sql: &str) -> Result<String, String> {
    let out = Command::new(psql)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", SUPERUSER])
        .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        .env_clear()
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
