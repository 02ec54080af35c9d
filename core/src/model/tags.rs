//! The deployment tags the toolkit puts on every resource: their keys, which of them change with
//! every build, and how a planned update that changes nothing but those is recognised.

/// The commit the resource was deployed from.
pub const COMMIT: &str = "gitops:commit";
/// The Jenkins build (`BUILD_TAG`) that deployed it.
pub const BUILD: &str = "gitops:build";

/// Every tag every resource carries (`gitops-tag` and certification check them).
pub const REQUIRED: [&str; 7] = [
    COMMIT,
    BUILD,
    "gitops:deployment",
    "gitops:environment",
    "gitops:package",
    "gitops:profile",
    "managed-by",
];

/// The tags whose values change with every deploy even when nothing else does: an update that
/// changes only these is a *tag-only* update, listed apart from real changes.
pub const PER_DEPLOY: [&str; 2] = [COMMIT, BUILD];

/// The attribute names that hold a resource's tags, wherever they sit: AWS `tags` / `tags_all`,
/// Azure `tags`, the sandbox modules' `input.tags`.
pub const ATTRIBUTES: [&str; 2] = ["tags", "tags_all"];
