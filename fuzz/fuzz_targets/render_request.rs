//! Fuzz render on arbitrary deployment requests: the example source-of-truth repository is
//! materialized once (scripts/make-example.sh into a temporary directory, module cache warmed by
//! the first render); each input is parsed as `deployments/dev/fuzz.toml` and, when it parses,
//! rendered with `Renderer::render_request`. Any outcome but a panic is fine.
#![no_main]

use gitops_core::model::load::SourceFile;
use gitops_core::exec::modcache::ModuleCache;
use gitops_core::render::{RenderOptions, Renderer};
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Fixture {
    repo: SourceRepo,
    cache: ModuleCache,
    state: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gitops-fuzz-render-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-example.sh");
        let ok = std::process::Command::new("bash")
            .arg(&script)
            .arg(dir.join("ex"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "make-example.sh failed");
        let repo = SourceRepo::open(&dir.join("ex/repo")).expect("open the example repo");
        let cache = ModuleCache::new(dir.join("cache"), false);
        Fixture {
            repo,
            cache,
            state: dir.join("state"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let src = SourceFile::from_text("deployments/dev/fuzz.toml", text.to_owned());
    let Ok(dep) = gitops_core::model::load::deployment(&src) else {
        return;
    };
    let options = RenderOptions {
        build_tag: "fuzz".into(),
        state_dir: Some(f.state.clone()),
        vendor: true,
        stage: gitops_core::guard::Stage::Render,
        allow_revoked: false,
    };
    let Ok(renderer) = Renderer::new(&f.repo, &f.cache, options) else {
        return;
    };
    let id = DeploymentId {
        env: "dev".into(),
        name: "fuzz".into(),
    };
    let _ = renderer.render_request(&id, &dep, &src);
});
