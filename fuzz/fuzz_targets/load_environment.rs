//! Fuzz `gitops_core::model::load::environment` (the parser of `environments/dev.toml`): any text must give a value or a
//! ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let src = gitops_core::model::load::SourceFile::from_text("environments/dev.toml", text.to_owned());
        let _ = gitops_core::model::load::environment(&src);
    }
});
