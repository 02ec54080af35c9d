//! moto (the AWS APIs on loopback) as the tests' AWS, and [`AwsWorld`]: the AWS example
//! (`scripts/make-example.sh --aws`) with OpenBao holding its AWS keys (KV v2) and a moto server of
//! its own, for end-to-end runs of the toolkit with the real AWS provider.
//!
//! The server: `GITOPS_TEST_MOTO`, else `.tools/bin/moto_server` (what `make tools` writes: moto
//! from the pinned PyPI package, through `scripts/moto-server.py`). It runs on 127.0.0.1 on a port
//! chosen here, under `die-with-parent` ([`crate::server`]), and is stopped when dropped.
//!
//! Calls to the AWS APIs that the toolkit does not make itself (creating the state bucket, changing
//! a resource behind Terraform's back, listing what the Tagging API holds) go through boto3 (a
//! dependency of moto, in the same Python), with moto's test keys in the child's environment.

use crate::server::{free_port_pair, wait_ready, ServerProcess, Spawn};
use crate::{aws_cli_config, stderr, stdout, terraform, Example};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The account moto answers as (`sts get-caller-identity`), the example's `account`.
pub const ACCOUNT: &str = "123456789012";
/// The example's region.
pub const REGION: &str = "us-east-1";
/// The example's state bucket (`tfstate-{account}`).
pub const STATE_BUCKET: &str = "tfstate-123456789012";

/// The moto server launcher the tests run, or why there is none.
pub fn moto_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GITOPS_TEST_MOTO").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("GITOPS_TEST_MOTO={} is not a file", p.display()))
        };
    }
    let tools = crate::toolkit_root().join(".tools/bin/moto_server");
    if tools.is_file() {
        return Ok(tools);
    }
    Err(
        "moto not found: run `make tools` (installs the pinned moto[server] into .venv and writes \
         .tools/bin/moto_server), or set GITOPS_TEST_MOTO to a moto_server launcher"
            .to_owned(),
    )
}

/// The Python that has moto and boto3 (the project venv's).
fn python() -> PathBuf {
    let venv = crate::toolkit_root().join(".venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// A running moto server.
pub struct MotoServer {
    /// `http://127.0.0.1:<port>`: the AWS_ENDPOINT_URL of every run against it.
    pub endpoint: String,
    process: ServerProcess,
    _home: tempfile::TempDir,
}

impl MotoServer {
    /// Starts a server; panics with its output if it does not answer.
    pub fn start() -> MotoServer {
        let moto = moto_binary().unwrap_or_else(|e| panic!("{e}"));
        let mut last = String::new();
        for _ in 0..8 {
            let home = tempfile::Builder::new()
                .prefix("gitops-moto-")
                .tempdir()
                .expect("tempdir");
            let port = free_port_pair();
            let endpoint = format!("http://127.0.0.1:{port}");
            let mut process = ServerProcess::spawn(Spawn {
                name: "moto server",
                program: &moto,
                args: vec![
                    "-H".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                ],
                env: vec![
                    ("HOME".into(), home.path().to_string_lossy().into_owned()),
                    ("PATH".into(), "/usr/bin:/bin".into()),
                ],
                user: None,
                cwd: Some(home.path()),
                mask: Vec::new(),
            })
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", moto.display()));
            let ready = wait_ready(&mut process, Duration::from_secs(120), || {
                matches!(
                    crate::vault::http_json(&endpoint, "GET", "/moto-api/data.json", None, None),
                    Ok((200, _))
                )
            });
            match ready {
                Ok(()) => {
                    return MotoServer {
                        endpoint,
                        process,
                        _home: home,
                    }
                }
                Err(e) if e.contains("in use") => last = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("moto could not bind a port in 8 attempts:\n{last}");
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Runs a Python script with boto3 against this server: `client(name)` makes a client; the
    /// script prints JSON, returned parsed. Panics with the script's output if it fails.
    pub fn boto3(&self, script: &str) -> Value {
        let prelude = "import boto3, json, sys\n\
             def client(name):\n    return boto3.client(name, region_name='us-east-1')\n";
        let out = Command::new(python())
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            // moto accepts any key; these are its documented test values, not secrets.
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("run python with boto3");
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        serde_json::from_str(stdout(&out).trim()).unwrap_or(Value::Null)
    }

    /// Creates the example's state bucket (versioned, as docs/aws.md asks of a real one).
    pub fn create_state_bucket(&self) {
        self.boto3(&format!(
            "s3 = client('s3')\ns3.create_bucket(Bucket='{STATE_BUCKET}')\n\
             s3.put_bucket_versioning(Bucket='{STATE_BUCKET}', VersioningConfiguration={{'Status': 'Enabled'}})\n\
             print('null')"
        ));
    }

    /// Whether the S3 object `key` of the state bucket exists (the state, its `.tflock`).
    pub fn state_object_exists(&self, key: &str) -> bool {
        self.boto3(&format!(
            "s3 = client('s3')\nr = s3.list_objects_v2(Bucket='{STATE_BUCKET}', Prefix='{key}')\n\
             print(json.dumps(any(o['Key'] == '{key}' for o in r.get('Contents', []))))"
        ))
        .as_bool()
        .unwrap_or(false)
    }

    /// ARN -> tags of every resource the Tagging API lists with `key` = `value`, except instances
    /// that are terminated and NAT gateways that are deleted (AWS keeps both visible for a while
    /// after their deletion, and so does moto).
    pub fn tagged(&self, key: &str, value: &str) -> std::collections::BTreeMap<String, Value> {
        let v = self.boto3(&format!(
            "t = client('resourcegroupstaggingapi')\nec2 = client('ec2')\n\
             gone = {{i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances'] if i['State']['Name'] in ('terminated', 'shutting-down')}}\n\
             gone |= {{n['NatGatewayId'] for n in ec2.describe_nat_gateways()['NatGateways'] if n['State'] in ('deleting', 'deleted')}}\n\
             out = {{}}\n\
             for page in t.get_paginator('get_resources').paginate(TagFilters=[{{'Key': {key:?}, 'Values': [{value:?}]}}]):\n\
             \x20   for m in page['ResourceTagMappingList']:\n\
             \x20       if m['ResourceARN'].rsplit('/', 1)[-1] in gone:\n\
             \x20           continue\n\
             \x20       out[m['ResourceARN']] = {{t['Key']: t['Value'] for t in m['Tags']}}\n\
             print(json.dumps(out))"
        ));
        v.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}

/// The AWS example with OpenBao (the AWS keys in KV v2 at `secret/gitops/aws-<env>`), a moto
/// server with the state bucket, and the real AWS provider from the filesystem mirror.
pub struct AwsWorld {
    pub ex: Example,
    pub vault: crate::vault::TestVault,
    pub moto: MotoServer,
    /// The Terraform CLI configuration installing hashicorp/aws from the mirror.
    pub tfrc: PathBuf,
}

impl AwsWorld {
    /// `None` (after one line saying what is skipped) where the AWS provider is absent.
    pub fn start(skipping: &str) -> Option<AwsWorld> {
        let mirror = crate::aws_provider_mirror(skipping)?;
        let ex = Example::new_aws();
        let mut config = crate::vault::StandinConfig::canary();
        let kv2 = config.kv2.entry("secret".to_owned()).or_default();
        for env in ["aws-certify", "aws-dev", "aws-prod"] {
            kv2.insert(
                format!("gitops/{env}"),
                std::collections::BTreeMap::from([
                    ("access_key".to_owned(), "testing".to_owned()),
                    ("secret_key".to_owned(), "testing".to_owned()),
                ]),
            );
        }
        let vault = crate::vault::TestVault::start(config);
        let moto = MotoServer::start();
        moto.create_state_bucket();
        let tfrc = aws_cli_config(ex.dir.path(), &mirror);
        Some(AwsWorld {
            ex,
            vault,
            moto,
            tfrc,
        })
    }

    /// A toolkit command on the AWS example: Vault (AppRole), moto's endpoint, the provider mirror.
    pub fn cmd(&self, bin: &str) -> Command {
        let mut c = crate::vault_cmd(&self.ex, &self.vault, &terraform(), bin);
        c.env("TF_CLI_CONFIG_FILE", &self.tfrc)
            .env("AWS_ENDPOINT_URL", &self.moto.endpoint);
        c
    }

    pub fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.cmd(bin)
            .args(args)
            .output()
            .expect("run a toolkit binary")
    }

    /// Runs `bin args` and asserts its exit code is one of `ok`; the output.
    pub fn run_ok(&self, bin: &str, args: &[&str], ok: &[i32]) -> Output {
        let o = self.run(bin, args);
        assert!(
            o.status.code().is_some_and(|c| ok.contains(&c)),
            "{bin} {args:?}: {}",
            crate::show(&o)
        );
        o
    }

    /// Renders `<env>/<name>` into `dir` (under the example's output directory).
    pub fn render_into(&self, id: &str, dir: &str) -> PathBuf {
        let out = self.ex.out().join(dir);
        self.run_ok(
            "gitops-render",
            &[id, "--out", &out.to_string_lossy()],
            &[0],
        );
        out
    }

    /// render + plan + apply + tag of `id` into `<out>/<id>`; the rendered directory.
    pub fn deploy(&self, id: &str) -> PathBuf {
        let dir = self.render_into(id, id);
        let d = dir.to_string_lossy().into_owned();
        self.run_ok("gitops-plan", &[&d], &[0, 4]);
        self.run_ok("gitops-apply", &[&d], &[0]);
        self.run_ok("gitops-tag", &[&d], &[0]);
        dir
    }

    /// The state key of `<env>/<name>` in the bucket (the example's `{env}/{name}.tfstate`).
    pub fn state_key(id: &str) -> String {
        format!("{id}.tfstate")
    }
}

/// `terraform state list` of a rendered directory on the S3 backend (the toolkit's environment:
/// moto's endpoint and keys).
pub fn state_list(world: &AwsWorld, dir: &Path) -> Vec<String> {
    let out = Command::new(terraform())
        .arg(format!("-chdir={}", dir.display()))
        .args(["state", "list"])
        .env("TF_CLI_CONFIG_FILE", &world.tfrc)
        .env("AWS_ENDPOINT_URL", &world.moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("terraform state list");
    assert!(out.status.success(), "state list: {}", stderr(&out));
    stdout(&out).lines().map(str::to_owned).collect()
}
