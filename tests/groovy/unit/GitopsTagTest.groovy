import org.junit.Test

class GitopsTagTest extends HarnessTestBase {
    @Test
    void tagsAnAppliedDirectory() {
        fake.answer('gitops-tag', 0, '{"tag": "deploy/dev/web/1"}')
        Map r = step('gitopsTag', [repo: 'sot', dir: 'build/dev/web'])
        assert argv('gitops-tag') == ['--repo=sot', '--json', '--', 'build/dev/web']
        assert r.json.tag == 'deploy/dev/web/1'
    }

    @Test
    void history() {
        step('gitopsTag', [repo: 'sot', history: 'dev/web'])
        assert argv('gitops-tag') == ['history', '--repo=sot', '--json', '--', 'dev/web']
        assert !fake.calls('gitops-tag')[0].env.containsKey('VAULT_SECRET_ID')
    }

    @Test
    void untaggedResourcesFail() {
        fake.answer('gitops-tag', 1)
        assert aborts { step('gitopsTag', [dir: 'd']) }.message.contains('gitops-tag d: failed (exit 1)')
    }

    @Test
    void needsDirOrHistory() {
        assert aborts { step('gitopsTag', [:]) }.message.contains('give dir')
        assert fake.calls() == []
    }

    @Test
    void evilHistoryIsData() {
        step('gitopsTag', [history: EVIL])
        assert argv('gitops-tag')[-1] == EVIL
        assertNothingExecuted()
    }
}
