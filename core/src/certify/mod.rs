//! Certification of component packages (`gitops-certify`, see `docs/certification.md`). Every
//! operation takes an options struct and returns a typed report (serde); progress goes through a
//! [`Reporter`](crate::report::Reporter).
//!
//! - [`run`]: certify one package version (modules checked, deployed with every supporting
//!   profile into the certification environments, verified, always destroyed; see [`deploy`]),
//!   then write `certifications/<component>/<version>.toml` and tag
//!   `certified/<component>/<version>`; [`report`] writes its JUnit XML and Markdown summary;
//! - [`revoke`], [`status`], [`matrix`]: the other subcommands; [`record_schema`]: `schema`;
//! - the package digest a record binds is [`crate::records::digest`].
//!
//! The guard that render, plan and apply call (protected environments refuse a package that is
//! uncertified, stale or revoked) is `guard::certification`.

pub mod deploy;
pub mod matrix;
pub mod report;
pub mod revoke;
pub mod run;
pub mod status;

/// The JSON Schema of a certification record (`certifications/<component>/<version>.toml`).
pub fn record_schema() -> serde_json::Value {
    schemars::schema_for!(crate::records::certification::Record).to_value()
}

#[cfg(test)]
mod tests {
    #[test]
    fn certify_record_schema_names_the_record_fields() {
        let s = super::record_schema();
        assert!(s["properties"]["package_digest"].is_object(), "{s}");
        assert!(s["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|k| k == "steps")));
    }
}
