//! Fuzz `gitops_core::model::load::package` (the parser of `packages/web-service/1.0.0.toml`): any text must give a value or a
//! ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let src = gitops_core::model::load::SourceFile::from_text("packages/web-service/1.0.0.toml", text.to_owned());
        let _ = gitops_core::model::load::package(&src);
    }
});
