//! Fuzz `gitops_core::model::load::profile` (the parser of `profiles/internal-tooling.toml`): any text must give a value or a
//! ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let src = gitops_core::model::load::SourceFile::from_text("profiles/internal-tooling.toml", text.to_owned());
        let _ = gitops_core::model::load::profile(&src);
    }
});
