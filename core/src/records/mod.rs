//! The records that cross a process or git boundary: certification records and revocations,
//! deployment records (annotated tags).

pub mod certification;
pub mod deployment;
pub mod digest;
pub mod manifest;
pub mod revocation;
