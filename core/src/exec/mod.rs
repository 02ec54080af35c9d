//! Everything that runs outside the process: Terraform, Vault, git, the module cache, locks, the
//! AWS API the toolkit asks itself.

pub mod aws;
pub mod git;
pub mod lock;
pub mod modcache;
pub mod signal;
pub mod terraform;
pub mod transport;
pub mod vault;
