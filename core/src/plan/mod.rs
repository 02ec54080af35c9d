//! Plan and apply of a rendered deployment: the rendered directory, the plan run, its summary,
//! the policy gate, and the two operations behind `gitops-plan` ([`op::plan`]) and
//! `gitops-apply` ([`apply::apply`]).

pub mod apply;
pub mod dependencies;
pub mod drift;
pub mod op;
pub mod policy;
pub mod recovery;
pub mod rendered;
pub mod run;
pub mod summary;
