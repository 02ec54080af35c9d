//! gitops-toolkit core: the data model of a source-of-truth repository, render, the module cache,
//! git access and the command-line conventions shared by every binary.
//!
//! Data flows one way: files ([`load`], [`sot`], [`profile`]) -> resolved modules ([`modcache`],
//! [`interface`]) -> a rendered root module ([`render`]); [`changes`] maps a commit range to the
//! deployments it affects.

pub mod certify;
pub mod error;
pub mod exec;
pub mod guard;
pub mod lifecycle;
pub mod model;
pub mod plan;
pub mod records;
pub mod render;
pub mod report;
pub mod time;

pub use error::{exit, ConfigError, Error, Result};
