//! `gitops-tag`: verifying the deployment tags on every managed resource of a state (`terraform
//! show -json`) and, for AWS, in the cloud ([`check_cloud`]), recording an applied deployment as
//! an annotated git tag ([`record`]) and listing the records of a deployment ([`history`]).

use crate::error::{exit, Error, Result};
use crate::exec::aws::{ResourceTags, TaggingApi};
use crate::exec::git::GitRepo;
use crate::exec::lock::DeploymentLock;
use crate::exec::terraform::Terraform;
use crate::model::names::short_id;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{tags, Cloud};
use crate::plan::rendered::RenderedDir;
use crate::records::deployment::{self as meta, DeployMeta, DeploymentRecord, PUSH_ATTEMPTS};
use crate::report::Reporter;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// The command named in the deployment lock.
const PROGRAM: &str = "gitops-tag";

/// A resource that lacks a required tag or carries a wrong value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub address: String,
    pub problems: Vec<String>,
}

/// The result of a tag check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagCheck {
    /// Managed resources whose tags were checked.
    pub checked: usize,
    /// Resources that cannot carry tags (exempt), with the reason.
    pub exempt: Vec<String>,
    pub offenders: Vec<Offender>,
}

/// The tag the cloud check asks the Tagging API for: it names the deployment.
const DEPLOYMENT_TAG: &str = "gitops:deployment";

/// Resource types checked in the state only, not against the Tagging API of the deployment's
/// region, which does not list them (or not under the state's ARN). Each entry also covers the
/// types it begins (`aws_iam` covers `aws_iam_role`, `aws_lb_listener` `aws_lb_listener_rule`):
/// - global services, listed (if at all) by the API in us-east-1 only: IAM, CloudFront, Route 53
///   hosted zones and health checks, WAF Classic, Global Accelerator, Organizations;
/// - S3 objects (the API lists buckets, not objects);
/// - autoscaling groups: their tags are `tag` blocks for the instances, not the group's;
/// - ELBv2 listeners and their rules (`aws_lb_*`, `aws_alb_*`): taggable, not reliably listed.
const NOT_IN_TAGGING_API: [&str; 12] = [
    "aws_iam",
    "aws_cloudfront",
    "aws_route53_zone",
    "aws_route53_health_check",
    "aws_waf",
    "aws_globalaccelerator",
    "aws_organizations",
    "aws_s3_object",
    "aws_s3_bucket_object",
    "aws_autoscaling_group",
    "aws_lb_listener",
    "aws_alb_listener",
];

/// Tags AWS puts on what a service launched on the deployment's behalf (an autoscaling group's
/// instances, a fleet's): such a resource keeps the deployment tags of its launch, so an older
/// `gitops:commit` on it is no leftover of an apply.
const LAUNCHED_BY: [&str; 3] = [
    "aws:autoscaling:groupName",
    "aws:ec2spot:fleet-request-id",
    "aws:ec2:fleet-id",
];

fn not_in_tagging_api(ty: &str) -> bool {
    NOT_IN_TAGGING_API.iter().any(|p| {
        ty.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('_'))
    })
}

/// Resource types that cannot carry tags.
fn untaggable(ty: &str) -> bool {
    ty == "null_resource"
        || ty.starts_with("random_")
        || ty.starts_with("time_")
        || ty.ends_with("_attachment")
}

fn resources<'a>(module: &'a Value, out: &mut Vec<&'a Value>) {
    out.extend(module["resources"].as_array().into_iter().flatten());
    for child in module["child_modules"].as_array().into_iter().flatten() {
        resources(child, out);
    }
}

/// Where a resource keeps its tags: sandbox `terraform_data` in `input.tags`; AWS in `tags_all`
/// (provider default tags included) else `tags`; Azure and others in `tags`. `None`: the type has
/// no tags attribute at all.
fn tags_of(rc: &Value) -> Option<&Value> {
    let values = &rc["values"];
    if rc["type"].as_str() == Some("terraform_data") {
        return Some(&values["input"]["tags"]);
    }
    let obj = values.as_object()?;
    match (obj.get("tags_all"), obj.get("tags")) {
        (Some(all), _) if all.is_object() => Some(all),
        (_, Some(t)) => Some(t),
        (Some(all), None) => Some(all),
        (None, None) => None,
    }
}

/// Checks every managed resource of `state` for every tag of `required` with its value.
pub fn check(state: &Value, required: &BTreeMap<String, String>) -> TagCheck {
    let mut all = Vec::new();
    resources(&state["values"]["root_module"], &mut all);
    let mut out = TagCheck::default();
    for rc in all {
        if rc["mode"].as_str() != Some("managed") {
            continue;
        }
        let address = rc["address"].as_str().unwrap_or("?").to_owned();
        let ty = rc["type"].as_str().unwrap_or("");
        if untaggable(ty) {
            out.exempt
                .push(format!("{address} ({ty} cannot carry tags)"));
            continue;
        }
        let Some(tags) = tags_of(rc) else {
            out.exempt
                .push(format!("{address} ({ty} has no tags attribute)"));
            continue;
        };
        out.checked += 1;
        let mut problems = Vec::new();
        for (key, want) in required {
            match tags.get(key).and_then(Value::as_str) {
                None => problems.push(format!("missing tag {key}")),
                Some(have) if have != want => {
                    problems.push(format!("tag {key} = {have:?}, expected {want:?}"))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            out.offenders.push(Offender { address, problems });
        }
    }
    out.offenders.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// A resource whose tags in the cloud are not the render's: a resource of the state (with its
/// address) missing from the Tagging API's answer or tagged otherwise there, or one the API lists
/// with this deployment's tag and another commit that the state does not hold (no address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudOffender {
    pub address: Option<String>,
    pub arn: String,
    pub problems: Vec<String>,
}

/// The result of the check in the cloud ([`check_cloud`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CloudCheck {
    /// Resources of the state compared with the Tagging API's answer.
    pub checked: usize,
    /// What was not compared, with the reason: resources without an ARN, of a type the API does
    /// not list, in another region; listed resources an autoscaling group or fleet launched.
    pub skipped: Vec<String>,
    pub offenders: Vec<CloudOffender>,
}

/// The region field of an ARN (`arn:aws:sqs:eu-west-1:123:q` -> `eu-west-1`; empty for global
/// resources and S3 buckets).
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3)
}

/// The service and resource type of an ARN, as the Tagging API's `ResourceTypeFilters` name it:
/// `arn:aws:ec2:r:a:subnet/subnet-1` -> `ec2:subnet`, `arn:aws:rds:r:a:db:orders` -> `rds:db`,
/// `arn:aws:sns:r:a:alerts` -> `sns`.
fn arn_type(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let service = parts.get(2).copied().unwrap_or("");
    match parts.get(5).and_then(|r| r.split_once(['/', ':'])) {
        Some((ty, _)) => format!("{service}:{ty}"),
        None => service.to_owned(),
    }
}

/// Compares the state with what the Tagging API of `region` `listed` for the render's
/// `gitops:deployment` tag (pure: [`check_cloud`] asks). Every managed resource whose tags the
/// state check covered, that has an `arn` in the region and a type the API lists (not one of
/// `NOT_IN_TAGGING_API`), must be listed with every tag of `required` and its value. Every
/// listed resource the state does not hold (by `arn`, or an `id` that is an ARN) must carry the
/// render's `gitops:commit`, unless a service launched it (`LAUNCHED_BY`): another commit is a
/// leftover of another apply (`terraform state rm`, a `removed` block that keeps the resource, a
/// lost state).
pub fn compare_cloud(
    state: &Value,
    required: &BTreeMap<String, String>,
    region: &str,
    listed: &[ResourceTags],
) -> CloudCheck {
    let deployment = required.get(DEPLOYMENT_TAG).map_or("", String::as_str);
    let by_arn: BTreeMap<&str, &BTreeMap<String, String>> =
        listed.iter().map(|r| (r.arn.as_str(), &r.tags)).collect();
    // The API's coverage differs by service, region and emulator (moto lists subnets but not
    // VPCs): a type it listed for this deployment is covered, and a missing resource of a covered
    // type is an offender; one of a type it listed nothing of is skipped, saying so.
    let covered: BTreeSet<String> = listed.iter().map(|r| arn_type(&r.arn)).collect();
    let mut all = Vec::new();
    resources(&state["values"]["root_module"], &mut all);
    let mut out = CloudCheck::default();
    let mut in_state = BTreeSet::new();
    for rc in all {
        if rc["mode"].as_str() != Some("managed") {
            continue;
        }
        let values = &rc["values"];
        let arn = values["arn"].as_str().filter(|a| !a.is_empty());
        in_state.extend(arn);
        in_state.extend(values["id"].as_str().filter(|id| id.starts_with("arn:")));
        let address = rc["address"].as_str().unwrap_or("?");
        let ty = rc["type"].as_str().unwrap_or("");
        // Exempt from the state check already (listed there).
        if untaggable(ty) || tags_of(rc).is_none() {
            continue;
        }
        let Some(arn) = arn else {
            out.skipped.push(format!("{address} (no arn)"));
            continue;
        };
        if not_in_tagging_api(ty) {
            out.skipped.push(format!(
                "{address} ({ty} is not listed by the Tagging API of a region)"
            ));
            continue;
        }
        if let Some(other) = arn_region(arn).filter(|r| !r.is_empty() && *r != region) {
            out.skipped
                .push(format!("{address} (in {other}, not {region})"));
            continue;
        }
        if !by_arn.contains_key(arn) && !covered.contains(&arn_type(arn)) {
            out.skipped.push(format!(
                "{address} (the Tagging API lists no {} resource of this deployment: it does not \
                 cover the type there)",
                arn_type(arn)
            ));
            continue;
        }
        out.checked += 1;
        let problems = match by_arn.get(arn) {
            None => vec![format!(
                "not listed by the Tagging API with {DEPLOYMENT_TAG} = {deployment}: gone from \
                 the cloud, or tagged for another deployment there"
            )],
            Some(have) => required
                .iter()
                .filter_map(|(key, want)| match have.get(key) {
                    None => Some(format!("in the cloud, tag {key} is missing")),
                    Some(v) if v != want => Some(format!(
                        "in the cloud, {key} is {v}, the render's is {want}"
                    )),
                    Some(_) => None,
                })
                .collect(),
        };
        if !problems.is_empty() {
            out.offenders.push(CloudOffender {
                address: Some(address.to_owned()),
                arn: arn.to_owned(),
                problems,
            });
        }
    }
    if let Some(want) = required.get(tags::COMMIT) {
        for r in listed.iter().filter(|r| !in_state.contains(r.arn.as_str())) {
            let have = r.tags.get(tags::COMMIT);
            if have == Some(want) {
                continue;
            }
            if let Some((key, by)) = LAUNCHED_BY
                .iter()
                .find_map(|k| r.tags.get(*k).map(|v| (k, v)))
            {
                out.skipped.push(format!(
                    "{} (launched by {key} {by}: keeps the tags of its launch)",
                    r.arn
                ));
                continue;
            }
            let commit = match have {
                Some(have) => format!("gitops:commit is {have}"),
                None => "it has no gitops:commit".to_owned(),
            };
            out.offenders.push(CloudOffender {
                address: None,
                arn: r.arn.clone(),
                problems: vec![format!(
                    "in the cloud, {commit}, the render's is {want}; tagged {DEPLOYMENT_TAG} = \
                     {deployment} but not in the state: a leftover of another apply"
                )],
            });
        }
    }
    // State resources by address first, then the leftovers by ARN.
    out.offenders.sort_by(|a, b| {
        (a.address.is_none(), &a.address, &a.arn).cmp(&(b.address.is_none(), &b.address, &b.arn))
    });
    out
}

/// Checks the deployment tags in AWS: asks `api` (Resource Groups Tagging API `GetResources`,
/// every page) for the resources tagged with the render's `gitops:deployment` and compares them
/// with the state ([`compare_cloud`]). What the state says can differ from the cloud: tags
/// changed outside Terraform, resources left behind by another apply.
pub fn check_cloud(
    state: &Value,
    required: &BTreeMap<String, String>,
    api: &TaggingApi,
) -> Result<CloudCheck> {
    let deployment = required.get(DEPLOYMENT_TAG).ok_or_else(|| {
        Error::Process(format!(
            "the render's deployment tags have no {DEPLOYMENT_TAG}: render again"
        ))
    })?;
    let listed = api.get_resources(DEPLOYMENT_TAG, deployment)?;
    Ok(compare_cloud(state, required, api.region(), &listed))
}

/// What `gitops-tag RENDERED_DIR` is asked to do.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The source-of-truth repository (where the tag is created and pushed).
    pub repo: PathBuf,
    /// The rendered directory that gitops-apply applied (holds outputs.json).
    pub dir: PathBuf,
    pub cache_dir: PathBuf,
    /// How long to wait for the deployment lock.
    pub lock_timeout: Duration,
}

/// The outcome of [`record`]: recorded, or refused because resources lack deployment tags (in the
/// state, or in the cloud).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RecordReport {
    Recorded(Box<Recorded>),
    Untagged(Untagged),
}

/// A deployment recorded (or found already recorded). JSON: `{"cloud", "commit", "deployment",
/// "exit_code", "pushed", "record", "recorded", "tag", "tags"}`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub deployment: String,
    /// False when the last record already was this apply (nothing new was tagged).
    pub recorded: bool,
    /// `deploy/<env>/<name>/<seq>`
    pub tag: String,
    /// The source commit tagged.
    pub commit: String,
    pub pushed: bool,
    pub record: DeployMeta,
    pub tags: TagCheck,
    /// The check in the cloud; `None` (JSON `null`) where there is none (sandbox, Azure).
    pub cloud: Option<CloudCheck>,
}

impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "deployment": self.deployment, "recorded": self.recorded, "tag": self.tag,
            "commit": self.commit, "pushed": self.pushed, "record": self.record,
            "tags": self.tags, "cloud": self.cloud, "exit_code": exit::OK,
        })
        .serialize(s)
    }
}

/// Refused (exit 3): resources lack deployment tags, in the state or in the cloud. JSON:
/// `{"cloud", "deployment", "exit_code", "recorded": false, "tags"}`.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub deployment: String,
    pub tags: TagCheck,
    /// `None` when the state check failed (the cloud is not asked then), or without a cloud check.
    pub cloud: Option<CloudCheck>,
    /// The refusal, one offender a line.
    pub message: String,
}

impl Serialize for Untagged {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "deployment": self.deployment, "recorded": false, "tags": self.tags,
            "cloud": self.cloud, "exit_code": exit::REFUSED,
        })
        .serialize(s)
    }
}

/// An applied render: its directory, the repository and what `outputs.json` says.
struct Applied {
    rendered: RenderedDir,
    repo: SourceRepo,
    id: DeploymentId,
    outputs: Value,
}

/// Opens the render and checks that `outputs.json` is from an apply of it, from a commit.
fn applied(opts: &RecordOptions) -> Result<Applied> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    let id = DeploymentId::parse(rendered.deployment())?;
    let m = &rendered.manifest;
    let outputs_path = rendered.dir.join("outputs.json");
    if !outputs_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no outputs.json: run gitops-apply first (gitops-tag records applied deployments)",
            rendered.dir.display()
        )));
    }
    let outputs = meta::read_json(&outputs_path)?;
    if outputs["source_commit"].as_str() != Some(m.source_commit.as_str())
        || outputs["deployment"].as_str() != Some(id.to_string().as_str())
    {
        return Err(Error::Refused(format!(
            "{id}: outputs.json was not written by an apply of this render (source commit {} vs {}): render, plan and apply again",
            outputs["source_commit"], json!(m.source_commit)
        )));
    }
    if m.source_dirty {
        return Err(Error::Refused(format!(
            "{id}: the render was made from uncommitted files (source_dirty): a deployment is recorded only against a commit"
        )));
    }
    Ok(Applied {
        rendered,
        repo,
        id,
        outputs,
    })
}

/// Takes the deployment lock and verifies the tags ([`verify_tags`]); the Vault session (whose
/// credentials both Terraform and the cloud check use) ends after both.
fn verify(
    a: &Applied,
    opts: &RecordOptions,
    reporter: &dyn Reporter,
) -> Result<(DeploymentLock, TagCheck, Option<CloudCheck>)> {
    let lock = a.rendered.lock(PROGRAM, opts.lock_timeout)?;
    let (tf, vault) = a.rendered.terraform(&a.repo, &opts.cache_dir)?;
    let verified = verify_tags(a, &tf, reporter);
    crate::exec::vault::finish(vault, reporter);
    let (tags, cloud) = verified?;
    Ok((lock, tags, cloud))
}

/// Reads the state (`terraform show -json`) and checks its tags ([`check`]); when they pass and
/// the cloud is AWS, checks them in AWS too ([`check_cloud`]) in the render's region, with the
/// credentials and endpoint variables of Terraform's environment
/// ([`TaggingApi::from_vars`] over [`Terraform::child_var`]).
fn verify_tags(
    a: &Applied,
    tf: &Terraform,
    reporter: &dyn Reporter,
) -> Result<(TagCheck, Option<CloudCheck>)> {
    super::say(reporter, &a.id, "reading the state (terraform show -json)");
    let shown = tf.run_ok(&a.rendered.dir, &["show", "-json", "-no-color"])?;
    let state: Value = serde_json::from_str(&shown.stdout)
        .map_err(|e| Error::Process(format!("terraform show -json: {e}")))?;
    let m = &a.rendered.manifest;
    let tags = check(&state, &m.tags);
    if !tags.offenders.is_empty() || m.cloud != Cloud::Aws {
        return Ok((tags, None));
    }
    let region = aws_region(&a.rendered)?;
    let api = TaggingApi::from_vars(region, &|name| tf.child_var(name))?;
    super::say(
        reporter,
        &a.id,
        &format!(
            "checking the tags in AWS (Resource Groups Tagging API {})",
            api.endpoint()
        ),
    );
    let cloud = check_cloud(&state, &m.tags, &api)?;
    Ok((tags, Some(cloud)))
}

/// The region Terraform applied in: the AWS provider's `region` in the render's `main.tf.json`.
fn aws_region(rendered: &RenderedDir) -> Result<&str> {
    rendered.main["provider"]["aws"]["region"]
        .as_str()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::Process(format!(
                "{}: main.tf.json has no provider.aws.region: render again",
                rendered.dir.display()
            ))
        })
}

fn offenders_text(c: &TagCheck) -> String {
    c.offenders
        .iter()
        .map(|o| format!("  {}: {}", o.address, o.problems.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `  aws_lb.this (arn:...): in the cloud, ...`; a leftover by its ARN alone.
fn cloud_offenders_text(c: &CloudCheck) -> String {
    c.offenders
        .iter()
        .map(|o| match &o.address {
            Some(address) => format!("  {address} ({}): {}", o.arn, o.problems.join("; ")),
            None => format!("  {}: {}", o.arn, o.problems.join("; ")),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commit a deployment is recorded on: the render's `source_commit`, which must hold what was
/// applied. It must be a commit of this repository, HEAD or in HEAD's history (a record on a
/// commit of no branch would be lost to `history`, `rollback` and drift checks), and hold every
/// input file of the render byte for byte (the manifest's digest of each; built-in profiles
/// aside). A render from uncommitted files (`source_dirty`) was refused before. Each failure is
/// a refusal (exit 3), before the lock is taken or anything is written.
fn recorded_commit(a: &Applied, git: &GitRepo) -> Result<git2::Oid> {
    let (id, m) = (&a.id, &a.rendered.manifest);
    let again = "render, plan and apply again from this repository";
    let commit = git2::Oid::from_str(&m.source_commit)
        .ok()
        .filter(|c| git.repo.find_commit(*c).is_ok())
        .ok_or_else(|| {
            Error::Refused(format!(
                "{id}: the render's source_commit {} is not a commit of {}: {again}",
                json!(m.source_commit),
                a.repo.root.display()
            ))
        })?;
    let head = git.head()?;
    if head != commit && !git.repo.graph_descendant_of(head, commit).unwrap_or(false) {
        return Err(Error::Refused(format!(
            "{id}: the render's source commit {} is not HEAD ({}) nor in its history: a \
             deployment is recorded on a commit of the checked-out branch; check out the branch \
             the render was made from, or {again}",
            short_id(&commit.to_string(), 12),
            short_id(&head.to_string(), 12)
        )));
    }
    for (path, digest) in &m.inputs {
        if path.starts_with("builtin:") {
            continue;
        }
        let at_commit = git.file_at(commit, std::path::Path::new(path))?;
        let found = at_commit.map(|b| format!("sha256:{}", crate::model::load::sha256_hex(&b)));
        if found.as_deref() != Some(digest.as_str()) {
            return Err(Error::Refused(format!(
                "{id}: commit {} does not hold the {path} that was rendered and applied ({}): \
                 the render was not made from that commit; {again}",
                short_id(&commit.to_string(), 12),
                match found {
                    Some(f) => format!("its digest is {f}, the manifest records {digest}"),
                    None => "the commit has no such file".to_owned(),
                }
            )));
        }
    }
    Ok(commit)
}

/// The deployment record of an applied render on `commit` ([`recorded_commit`]).
fn deploy_meta(a: &Applied, git: &GitRepo, commit: git2::Oid) -> Result<DeployMeta> {
    let (id, m) = (&a.id, &a.rendered.manifest);
    let request = git.file_at(commit, &id.path())?.ok_or_else(|| {
        Error::Refused(format!(
            "{id}: commit {commit} has no {}: the render is not from a commit of this repository",
            id.path().display()
        ))
    })?;
    let record = DeployMeta {
        deployment: id.to_string(),
        package: m.package_ref(),
        profile: m.profile.clone(),
        plan_digest: a.outputs["plan_digest"].as_str().unwrap_or("").to_owned(),
        outputs_digest: meta::outputs_digest(&a.outputs["outputs"]),
        build_tag: m.build_tag.clone(),
        approved_by: a.outputs["approved_by"].as_str().map(str::to_owned),
        time: meta::now(),
        source_commit: commit.to_string(),
        request_sha256: meta::request_digest(&request),
        destroyed: false,
    };
    Ok(record)
}

/// `gitops-tag RENDERED_DIR`: verifies the deployment tags of every resource of the applied state
/// and, for AWS, in the cloud ([`check_cloud`]), then records the deployment as the annotated tag
/// `deploy/<env>/<name>/<seq>` on the source commit (pushed when there is a remote). Recording
/// the same apply again tags nothing new.
pub fn record(opts: &RecordOptions, reporter: &dyn Reporter) -> Result<RecordReport> {
    let a = applied(opts)?;
    let git = GitRepo::open(&a.repo)?;
    let commit = recorded_commit(&a, &git)?;
    let (_lock, tags, cloud) = verify(&a, opts, reporter)?;
    let id = &a.id;
    let refusal = if !tags.offenders.is_empty() {
        Some(format!(
            "{id}: {} of {} resources lack deployment tags; the deployment is not recorded:\n{}",
            tags.offenders.len(),
            tags.checked,
            offenders_text(&tags)
        ))
    } else {
        cloud.as_ref().filter(|c| !c.offenders.is_empty()).map(|c| {
            format!(
                "{id}: in AWS (Resource Groups Tagging API), {} resources do not carry the \
                 render's deployment tags ({} resources of the state checked); the deployment \
                 is not recorded:\n{}",
                c.offenders.len(),
                c.checked,
                cloud_offenders_text(c)
            )
        })
    };
    if let Some(message) = refusal {
        return Ok(RecordReport::Untagged(Untagged {
            deployment: id.to_string(),
            tags,
            cloud,
            message,
        }));
    }
    let record = deploy_meta(&a, &git, commit)?;
    let prefix = meta::deploy_prefix(id);
    let previous = meta::records(&git, &prefix)?;
    let same = previous.last().filter(|r| {
        r.meta.plan_digest == record.plan_digest && r.meta.source_commit == record.source_commit
    });
    let (tag, recorded) = match same {
        Some(same) => (same.tag.clone(), false),
        None => {
            let name = git.tag_and_push(
                &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
                commit,
                &record.message(),
                PUSH_ATTEMPTS,
            )?;
            (name, true)
        }
    };
    Ok(RecordReport::Recorded(Box::new(Recorded {
        deployment: id.to_string(),
        recorded,
        tag,
        commit: commit.to_string(),
        pushed: recorded && git.remote().is_some(),
        record,
        tags,
        cloud,
    })))
}

impl Recorded {
    /// `recorded deploy/dev/web/3 on 0123456789ab (web-service@1.1.0, 4 resources tagged, pushed)`;
    /// for AWS `..., 4 resources tagged, 3 checked in AWS, ...`.
    pub fn line(&self) -> String {
        format!(
            "{} {} on {} ({}, {} resources tagged{}{})",
            if self.recorded {
                "recorded"
            } else {
                "already recorded:"
            },
            self.tag,
            short_id(&self.commit, 12),
            self.record.package,
            self.tags.checked,
            match &self.cloud {
                Some(c) => format!(", {} checked in AWS", c.checked),
                None => String::new(),
            },
            if self.pushed { ", pushed" } else { "" }
        )
    }
}

/// What `gitops-tag history` is asked to list.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    pub repo: PathBuf,
    pub deployment: DeploymentId,
}

/// The recorded deployments and tombstones of one deployment, oldest first. JSON:
/// `{"deployment", "live", "records"}`.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    pub deployment: String,
    /// True when the last record is a deployment, not a tombstone.
    pub live: bool,
    pub records: Vec<DeploymentRecord>,
}

impl Serialize for HistoryReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({"deployment": self.deployment, "live": self.live, "records": self.records})
            .serialize(s)
    }
}

/// `gitops-tag history <env>/<name>`.
pub fn history(opts: &HistoryOptions) -> Result<HistoryReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    let git = GitRepo::open(&repo)?;
    let records = meta::history(&git, &opts.deployment)?;
    Ok(HistoryReport {
        deployment: opts.deployment.to_string(),
        live: meta::is_live(&records),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn required() -> BTreeMap<String, String> {
        [("gitops:commit", "abc"), ("managed-by", "gitops-toolkit")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn finds_missing_and_wrong_tags_in_nested_modules_and_exempts_untaggable_types() {
        let good = json!({"gitops:commit": "abc", "managed-by": "gitops-toolkit"});
        let state = json!({"values": {"root_module": {
            "resources": [
                {"address": "random_id.x", "mode": "managed", "type": "random_id", "values": {}},
                {"address": "data.aws_region.r", "mode": "data", "type": "aws_region", "values": {}}
            ],
            "child_modules": [{
                "resources": [
                    {"address": "module.a.terraform_data.ok", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": good}}},
                    {"address": "module.a.terraform_data.bad", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": {"gitops:commit": "old"}}}},
                    {"address": "module.a.aws_vpc.v", "mode": "managed", "type": "aws_vpc", "values": {"tags": null, "tags_all": good}},
                    {"address": "module.a.azurerm_resource_group.g", "mode": "managed", "type": "azurerm_resource_group", "values": {"tags": {}}},
                    {"address": "module.a.aws_route_table_association.r", "mode": "managed", "type": "aws_route_table_association", "values": {"id": "x"}}
                ]
            }]
        }}});
        let c = check(&state, &required());
        assert_eq!(c.checked, 4);
        assert_eq!(c.exempt.len(), 2, "{:?}", c.exempt);
        let addrs: Vec<&str> = c.offenders.iter().map(|o| o.address.as_str()).collect();
        assert_eq!(
            addrs,
            vec![
                "module.a.azurerm_resource_group.g",
                "module.a.terraform_data.bad"
            ]
        );
        let bad = &c.offenders[1].problems;
        assert!(
            bad.iter().any(|p| p.contains("expected \"abc\"")),
            "{bad:?}"
        );
        assert!(bad.iter().any(|p| p == "missing tag managed-by"), "{bad:?}");
    }

    #[test]
    fn an_empty_state_has_nothing_to_check() {
        let c = check(&json!({"format_version": "1.0"}), &required());
        assert_eq!((c.checked, c.offenders.len()), (0, 0));
    }

    const REGION: &str = "eu-west-1";

    fn deployment_tags(commit: &str) -> BTreeMap<String, String> {
        [
            ("gitops:commit", commit),
            ("gitops:deployment", "dev/x"),
            ("managed-by", "gitops-toolkit"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn arn(resource: &str) -> String {
        format!("arn:aws:elasticloadbalancing:{REGION}:123456789012:{resource}")
    }

    /// A managed AWS resource of the state with `arn` (if any) and the render's tags.
    fn aws(address: &str, arn: Option<&str>) -> Value {
        let ty = address.split('.').next().unwrap();
        let mut values = json!({"tags": {}, "tags_all": deployment_tags("c2")});
        if let Some(arn) = arn {
            values["arn"] = json!(arn);
        }
        json!({"address": address, "mode": "managed", "type": ty, "values": values})
    }

    fn state(resources: Vec<Value>) -> Value {
        json!({"values": {"root_module": {"child_modules": [{"resources": resources}]}}})
    }

    fn listed(arn: &str, tags: BTreeMap<String, String>) -> ResourceTags {
        ResourceTags {
            arn: arn.to_owned(),
            tags,
        }
    }

    #[test]
    fn arn_types_are_service_and_resource_type() {
        let t = |a: &str| arn_type(a);
        assert_eq!(t("arn:aws:ec2:r:1:subnet/subnet-1"), "ec2:subnet");
        assert_eq!(t("arn:aws:rds:r:1:db:orders"), "rds:db");
        assert_eq!(t("arn:aws:sns:r:1:alerts"), "sns");
        assert_eq!(
            t("arn:aws:elasticloadbalancing:r:1:loadbalancer/app/a/1"),
            "elasticloadbalancing:loadbalancer"
        );
    }

    #[test]
    fn a_type_the_api_lists_nothing_of_is_skipped_not_an_offender() {
        let vpc = "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-1";
        let (s1, s2) = (
            "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-1",
            "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-2",
        );
        let st = state(vec![
            aws("aws_vpc.v", Some(vpc)),
            aws("aws_subnet.a", Some(s1)),
            aws("aws_subnet.b", Some(s2)),
        ]);
        // moto lists subnets but no VPC: the VPC is skipped, the missing subnet is an offender.
        let c = compare_cloud(
            &st,
            &deployment_tags("c2"),
            REGION,
            &[listed(s1, deployment_tags("c2"))],
        );
        assert_eq!(c.checked, 2);
        assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
        assert!(c.skipped[0].contains("ec2:vpc"), "{:?}", c.skipped);
        let offenders: Vec<&str> = c.offenders.iter().map(|o| o.arn.as_str()).collect();
        assert_eq!(offenders, vec![s2]);
    }

    #[test]
    fn the_cloud_agrees_with_the_state() {
        let (lb, tg) = (arn("loadbalancer/app/a/1"), arn("targetgroup/t/2"));
        let st = state(vec![
            aws("aws_lb.this", Some(&lb)),
            aws("aws_lb_target_group.t", Some(&tg)),
            aws("random_id.r", None),
        ]);
        let mut extra = deployment_tags("c2");
        extra.insert("team".into(), "a".into());
        let c = compare_cloud(
            &st,
            &deployment_tags("c2"),
            REGION,
            &[listed(&lb, extra), listed(&tg, deployment_tags("c2"))],
        );
        assert_eq!(c.checked, 2);
        assert!(c.offenders.is_empty(), "{:?}", c.offenders);
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    }

    #[test]
    fn missing_resources_wrong_commits_and_missing_tags_in_the_cloud_are_offenders() {
        let (lb, tg, sg) = (
            arn("loadbalancer/app/a/1"),
            arn("targetgroup/t/2"),
            arn("security-group/sg-3"),
        );
        let st = state(vec![
            aws("aws_lb.this", Some(&lb)),
            aws("aws_lb_target_group.t", Some(&tg)),
            aws("aws_security_group.s", Some(&sg)),
        ]);
        let mut untagged = deployment_tags("c2");
        untagged.remove("managed-by");
        let c = compare_cloud(
            &st,
            &deployment_tags("c2"),
            REGION,
            &[
                listed(&lb, deployment_tags("c1")),
                listed(&sg, untagged),
                // Another target group of this deployment, at the render's commit: the API covers
                // target groups, so the missing one is an offender.
                listed(&arn("targetgroup/other/9"), deployment_tags("c2")),
            ],
        );
        assert_eq!(c.checked, 3);
        let found: Vec<(Option<&str>, &str, &[String])> = c
            .offenders
            .iter()
            .map(|o| (o.address.as_deref(), o.arn.as_str(), o.problems.as_slice()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    Some("aws_lb.this"),
                    lb.as_str(),
                    &["in the cloud, gitops:commit is c1, the render's is c2".to_owned()][..]
                ),
                (
                    Some("aws_lb_target_group.t"),
                    tg.as_str(),
                    &[
                        "not listed by the Tagging API with gitops:deployment = dev/x: gone from \
                       the cloud, or tagged for another deployment there"
                            .to_owned()
                    ][..]
                ),
                (
                    Some("aws_security_group.s"),
                    sg.as_str(),
                    &["in the cloud, tag managed-by is missing".to_owned()][..]
                ),
            ]
        );
        let text = cloud_offenders_text(&c);
        assert!(
            text.starts_with(&format!(
                "  aws_lb.this ({lb}): in the cloud, gitops:commit is c1, the render's is c2\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn a_listed_resource_of_another_commit_outside_the_state_is_a_leftover() {
        let lb = arn("loadbalancer/app/a/1");
        let (old, current, instance) = (
            arn("targetgroup/old/9"),
            arn("targetgroup/created-now/8"),
            format!("arn:aws:ec2:{REGION}:123456789012:instance/i-1"),
        );
        let st = state(vec![aws("aws_lb.this", Some(&lb))]);
        let mut launched = deployment_tags("c1");
        launched.insert("aws:autoscaling:groupName".into(), "web".into());
        let mut no_commit = deployment_tags("c1");
        no_commit.remove("gitops:commit");
        let orphan = arn("targetgroup/orphan/7");
        let c = compare_cloud(
            &st,
            &deployment_tags("c2"),
            REGION,
            &[
                listed(&lb, deployment_tags("c2")),
                listed(&old, deployment_tags("c1")),
                listed(&current, deployment_tags("c2")),
                listed(&instance, launched),
                listed(&orphan, no_commit),
            ],
        );
        assert_eq!(c.checked, 1);
        let found: Vec<(Option<&str>, &str)> = c
            .offenders
            .iter()
            .map(|o| (o.address.as_deref(), o.arn.as_str()))
            .collect();
        assert_eq!(found, vec![(None, old.as_str()), (None, orphan.as_str())]);
        assert_eq!(
            c.offenders[0].problems,
            vec![
                "in the cloud, gitops:commit is c1, the render's is c2; tagged gitops:deployment = \
                 dev/x but not in the state: a leftover of another apply"
                    .to_owned()
            ]
        );
        assert!(c.offenders[1].problems[0].starts_with("in the cloud, it has no gitops:commit"));
        assert_eq!(
            c.skipped,
            vec![format!(
                "{instance} (launched by aws:autoscaling:groupName web: keeps the tags of its launch)"
            )]
        );
        assert_eq!(
            cloud_offenders_text(&c).lines().next().unwrap(),
            format!("  {old}: {}", c.offenders[0].problems[0])
        );
    }

    #[test]
    fn types_the_api_does_not_list_resources_without_arn_and_other_regions_are_skipped() {
        let role = "arn:aws:iam::123456789012:role/x";
        let cert = "arn:aws:acm:us-east-1:123456789012:certificate/c";
        let bucket = "arn:aws:s3:::a-bucket";
        let st = state(vec![
            aws("aws_iam_role.r", Some(role)),
            aws(
                "aws_lb_listener_rule.l",
                Some(&arn("listener-rule/app/a/1/2/3")),
            ),
            aws("aws_nat_gateway.n", None),
            aws("aws_acm_certificate.c", Some(cert)),
            aws("aws_s3_bucket.b", Some(bucket)),
            // Exempt from the state check, so not compared either.
            aws("aws_iam_role_policy_attachment.a", Some("arn:x")),
            json!({"address": "aws_route.r", "mode": "managed", "type": "aws_route", "values": {"id": "r"}}),
        ]);
        // The role, listed with an old commit, is in the state: no leftover either.
        let c = compare_cloud(
            &st,
            &deployment_tags("c2"),
            REGION,
            &[
                listed(role, deployment_tags("c1")),
                // The API covers buckets (it lists another of this deployment).
                listed("arn:aws:s3:::other-bucket", deployment_tags("c2")),
            ],
        );
        assert_eq!(
            c.checked, 1,
            "only the bucket (global ARN, regional listing)"
        );
        assert_eq!(
            c.skipped,
            vec![
                "aws_iam_role.r (aws_iam_role is not listed by the Tagging API of a region)",
                "aws_lb_listener_rule.l (aws_lb_listener_rule is not listed by the Tagging API of a region)",
                "aws_nat_gateway.n (no arn)",
                "aws_acm_certificate.c (in us-east-1, not eu-west-1)",
            ]
        );
        assert_eq!(c.offenders.len(), 1);
        assert_eq!(c.offenders[0].address.as_deref(), Some("aws_s3_bucket.b"));
        assert!(not_in_tagging_api("aws_waf_web_acl") && !not_in_tagging_api("aws_wafv2_web_acl"));
        assert!(!not_in_tagging_api("aws_iamx") && not_in_tagging_api("aws_autoscaling_group"));
    }

    #[test]
    fn the_cloud_check_is_in_the_json_report() {
        let u = Untagged {
            deployment: "dev/x".into(),
            tags: TagCheck::default(),
            cloud: Some(CloudCheck {
                checked: 2,
                skipped: vec![],
                offenders: vec![CloudOffender {
                    address: None,
                    arn: "arn:a".into(),
                    problems: vec!["p".into()],
                }],
            }),
            message: String::new(),
        };
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(
            v["cloud"],
            json!({"checked": 2, "skipped": [], "offenders": [{"address": null, "arn": "arn:a", "problems": ["p"]}]})
        );
        let u = Untagged { cloud: None, ..u };
        assert_eq!(serde_json::to_value(&u).unwrap()["cloud"], Value::Null);
    }
}
