import org.junit.Test

class GitopsRenderTest extends HarnessTestBase {
    @Test
    void rendersOneDeploymentAndReturnsItsJson() {
        fake.answer('gitops-render', 0, '{"deployment": "dev/web", "manifest": {"protected": false}}')
        Map r = step('gitopsRender', [repo: 'sot', deployment: 'dev/web', out: 'build/dev/web'])
        assert argv('gitops-render') == ['--repo=sot', '--out=build/dev/web', '--json', '--', 'dev/web']
        assert r.code == 0 && r.status == 'ok'
        assert r.json.deployment == 'dev/web'
        assert h.shCalls.size() == 1
    }

    @Test
    void listsWhatACommitRangeAffects() {
        fake.answer('gitops-render', 0, '{"render": {"dev/web": ["request changed"]}, "destroy": ["dev/old"]}')
        Map r = step('gitopsRender', [changedSince: 'abc123', list: true])
        assert argv('gitops-render') == ['--repo=.', '--changed-since=abc123', '--list', '--json', '--']
        assert r.json.destroy == ['dev/old']
    }

    @Test
    void byRenderComparesTheRenderedRootModules() {
        step('gitopsRender', [repo: 'sot', changedSince: 'b4se', byRender: true, list: true])
        assert argv('gitops-render') == ['--repo=sot', '--changed-since=b4se', '--by-render', '--list', '--json', '--']
    }

    @Test
    void everyFlagMapsToItsOption() {
        step('gitopsRender', [all: true, out: 'o', check: true, buildTag: 'b-1', stateDir: 's', cacheDir: 'c', jobs: 3])
        assert argv('gitops-render') == ['--repo=.', '--out=o', '--all', '--check', '--build-tag=b-1', '--state-dir=s', '--cache-dir=c', '--jobs=3', '--json', '--']
    }

    @Test
    void valuesWithShellMetacharactersArriveAsData() {
        step('gitopsRender', [repo: EVIL, deployment: EVIL, out: "out ${EVIL}".toString()])
        assert argv('gitops-render') == ["--repo=${EVIL}".toString(), "--out=out ${EVIL}".toString(), '--json', '--', EVIL]
        assertNothingExecuted()
    }

    @Test
    void aDeploymentThatLooksLikeAFlagStaysAPositional() {
        step('gitopsRender', [deployment: '--all'])
        assert argv('gitops-render')[-2..-1] == ['--', '--all']
    }

    @Test
    void invalidInputFailsTheStepNamingExit2() {
        fake.answer('gitops-render', 2)
        def e = aborts { step('gitopsRender', [deployment: 'dev/web', out: 'x']) }
        assert e.message.contains('gitops-render dev/web: invalid input (exit 2)')
    }

    @Test
    void withPropagateFalseTheCallerBranchesOnTheCode() {
        fake.answer('gitops-render', 1)
        Map r = step('gitopsRender', [deployment: 'dev/web', out: 'x', check: true, propagate: false])
        assert r.code == 1 && r.status == 'failed' && r.json == null
    }

    @Test
    void nothingToRenderFailsBeforeAnyBinaryRuns() {
        def e = aborts { step('gitopsRender', [repo: 'sot']) }
        assert e.message.contains('give deployment')
        assert fake.calls() == []
    }

    @Test
    void renderGetsNoVaultMaterial() {
        step('gitopsRender', [deployment: 'dev/web', out: 'x'])
        assert !fake.calls('gitops-render')[0].env.containsKey('VAULT_SECRET_ID')
    }
}
