//! Plan and apply of a rendered deployment: the rendered directory, the plan run, its summary
//! and the policy gate.

pub mod policy;
pub mod rendered;
pub mod run;
pub mod summary;
