import org.junit.Test

class GitopsInstallTest extends HarnessTestBase {
    @Test
    void prebuiltBinariesGoFirstOnPathForTheBody() {
        String found = h.call('node', {
            h.call('gitopsInstall', [binDir: fake.dir.path], { h.call('sh', [script: 'command -v gitops-render', returnStdout: true]) })
        })
        assert found.trim() == new File(fake.dir, 'gitops-render').path
        assert h.shCalls[0].env.GITOPS_ARG_SOURCE == 'path'
    }

    @Test
    void archiveIsDownloadedOnceIntoAPerVersionCache() {
        File archive = new File(tmp, 'toolkit.tar.gz')
        assert ['tar', '-czf', archive.path, '-C', fake.dir.path, '.'].execute().waitFor() == 0
        Map cfg = [source: 'archive', url: archive.toURI().toString(), version: 'test-1', cacheDir: new File(tmp, 'cache').path]
        h.baseEnv.FAKE_VERSION = 'x'
        String bin = h.call('node', { h.call('gitopsInstall', cfg) })
        assert bin == new File(tmp, 'cache/test-1/bin').path
        assert new File(bin, 'gitops-plan').canExecute()
        h.call('node', { h.call('gitopsInstall', cfg) })
        assert h.logText().contains('cached in')
    }

    @Test
    void aReleaseVersionMustMatchTheBinaries() {
        // the fake gitops-render says 0.1.0
        def e = aborts { h.call('node', { h.call('gitopsInstall', [binDir: fake.dir.path, version: 'v9.9.9']) }) }
        assert e.message.contains('exit code 1')
        assert h.logText().contains('library v9.9.9 but')
    }

    @Test
    void cargoBuildsFromASourceCheckout() {
        File bin = new File(tmp, 'tools')
        bin.mkdirs()
        File cargo = new File(bin, 'cargo')
        cargo.text = '''#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_GITOPS_REC/cargo.argv"
while [ $# -gt 0 ]; do [ "$1" = --target-dir ] && t=$2; shift; done
mkdir -p "$t/release"
printf '#!/bin/sh\\necho gitops-render 0.1.0\\n' > "$t/release/gitops-render"
chmod +x "$t/release/gitops-render"
'''
        cargo.setExecutable(true)
        h.baseEnv.PATH = bin.path + ':' + h.baseEnv.PATH
        String out = h.call('node', {
            h.call('gitopsInstall', [sourceDir: ROOT.path, version: 'v0.1.0', cacheDir: new File(tmp, 'c').path],
                   { h.call('sh', [script: 'gitops-render --version', returnStdout: true]) })
        })
        assert out.trim() == 'gitops-render 0.1.0'
        List<String> args = new File(fake.rec, 'cargo.argv').readLines()
        assert args[0..2] == ['build', '--release', '--locked']
        assert args.contains(new File(ROOT, 'Cargo.toml').path)
    }

    @Test
    void unknownSourceFails() {
        assert aborts { h.call('node', { h.call('gitopsInstall', [source: 'npm']) }) }.message.contains('allowed are path, archive, cargo')
    }
}
