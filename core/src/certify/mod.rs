//! Certification of component packages (`gitops-certify`, see `docs/certification.md`).
//!
//! - [`run`]: certify one package version (modules checked, deployed with every supporting
//!   profile into the certification environments, verified, always destroyed), then write
//!   `certifications/<component>/<version>.toml` and tag `certified/<component>/<version>`;
//! - [`enforce`]: the guard render, plan and apply call: protected environments refuse a package
//!   that is uncertified, stale (package or module moved since) or revoked;
//! - [`revoke`], [`status`], [`matrix`]: the other subcommands.

pub mod deploy;
pub mod matrix;
pub mod report;
pub mod revoke;
pub mod run;
pub mod status;
