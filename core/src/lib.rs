//! gitops-toolkit core: the data model of a source-of-truth repository, render, the module cache,
//! git access and the command-line conventions shared by every binary.
//!
//! Data flows one way: files ([`load`], [`sot`], [`profile`]) -> resolved modules ([`modcache`],
//! [`interface`]) -> a rendered root module ([`render`]); [`changes`] maps a commit range to the
//! deployments it affects.

pub mod apply_cmd;
pub mod certify;
pub mod changes;
pub mod cli;
pub mod error;
pub mod git;
pub mod guard;
pub mod interface;
pub mod lifecycle;
pub mod load;
pub mod lock;
pub mod modcache;
pub mod model;
pub mod names;
pub mod plan;
pub mod plan_cmd;
pub mod plan_run;
pub mod policy;
pub mod profile;
pub mod promotion;
pub mod render;
pub mod render_cmd;
pub mod rendered;
pub mod sot;
pub mod terraform;
pub mod time;
pub mod vault;

pub use error::{exit, ConfigError, Error, Result};
