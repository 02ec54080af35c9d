//! gitops-toolkit core: the library behind every `gitops-*` binary. It has no command line and
//! prints nothing: each operation takes an options struct and returns a typed report (serde) or a
//! typed [`Error`] (whose [`Error::exit_code`] is the documented exit code); progress and warnings
//! go through a [`report::Reporter`] that the command layer (`bins/cli`) implements.
//!
//! The modules are the stages of the pipeline, each depending only on those above it:
//!
//! | stage | what it holds |
//! |---|---|
//! | [`error`], [`report`], [`time`] | errors and exit codes, the reporting interface, RFC 3339 |
//! | [`model`] | the files of a source-of-truth repo: types, names, reading and checking ([`model::load`]), the repo ([`model::sot`]), profiles, module interfaces |
//! | [`exec`] | what runs outside the process: git, the module cache, Terraform, Vault, locks |
//! | [`records`] | what crosses a process or git boundary: the render manifest, certification records and their digest, revocations, deployment records |
//! | [`guard`] | certification and promotion guards (reads records and model only) |
//! | [`render`] | request + environment + profile + package -> root module: precedence engine, wiring, emission, output, fleets, the affected set |
//! | [`plan`] | the rendered directory, plan, apply, the policy gate, plan summaries |
//! | [`certify`] | certification runs, revocation, status, matrix |
//! | [`lifecycle`] | tag (deployment records), rollback, destroy, orphans |
//! | [`review`] | the review of a change request: plan fingerprints, the review record (a tag), the review summary over every affected deployment |
//! | [`fleet`] | the fleet report: every deployment, its state, certification, drift and orphans, as JSON, Markdown and HTML (reads every stage above, changes nothing) |
//!
//! Data flows one way: files ([`model`]) -> resolved modules ([`exec::modcache`]) -> a rendered
//! root module and its manifest ([`render`], [`records::manifest`]) -> a plan and its apply
//! ([`plan`]) -> deployment records ([`lifecycle`]); [`render::affected`] maps a commit range to
//! the deployments it affects. `docs/architecture.md` has the same table with the data flow.

pub mod certify;
pub mod error;
pub mod exec;
pub mod fleet;
pub mod guard;
pub mod lifecycle;
pub mod model;
pub mod plan;
pub mod records;
pub mod render;
pub mod report;
pub mod review;
#[cfg(test)]
pub(crate) mod test_support;
pub mod time;

pub use error::{exit, ConfigError, Error, Result};
