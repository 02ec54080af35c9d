import org.junit.Test

class GitopsCertifyTest extends HarnessTestBase {
    @Test
    void runWithEveryOption() {
        step('gitopsCertify', [repo: 'sot', component: 'web-service', version: '1.1.0', force: true, jobs: 2, junit: 'c.xml', summary: 'c.md'])
        assert argv('gitops-certify') == ['run', '--repo=sot', '--force', '--jobs=2', '--junit=c.xml', '--summary=c.md', '--json', '--', 'web-service', '1.1.0']
        assert fake.calls('gitops-certify')[0].env.VAULT_SECRET_ID == SECRET
    }

    @Test
    void revokeNeedsAReason() {
        assert aborts { step('gitopsCertify', [action: 'revoke', module: 'network@v1.0.0']) }.message.contains('reason')
        step('gitopsCertify', [action: 'revoke', module: 'network@v1.0.0', reason: 'CVE-1 "bad"; rm -rf /'])
        assert argv('gitops-certify') == ['revoke', '--repo=.', '--reason=CVE-1 "bad"; rm -rf /', '--json', '--', 'network@v1.0.0']
    }

    @Test
    void statusAndMatrix() {
        step('gitopsCertify', [action: 'status'])
        step('gitopsCertify', [action: 'matrix'])
        assert fake.calls('gitops-certify')*.argv == [['status', '--repo=.', '--json'], ['matrix', '--repo=.', '--json']]
    }

    @Test
    void uncertifiableIsRefused() {
        fake.answer('gitops-certify', 3)
        assert aborts { step('gitopsCertify', [component: 'c', version: '1.0.0']) }.message.contains('gitops-certify c@1.0.0: refused by a guard (exit 3)')
    }

    @Test
    void unknownActionAndMissingVersionFailBeforeTheBinary() {
        assert aborts { step('gitopsCertify', [action: 'delete']) }.message.contains('allowed are run, revoke, status, matrix')
        assert aborts { step('gitopsCertify', [component: 'c']) }.message.contains('component and version are required')
        assert fake.calls() == []
    }

    @Test
    void evilComponentIsData() {
        step('gitopsCertify', [component: EVIL, version: EVIL])
        assert argv('gitops-certify')[-2..-1] == [EVIL, EVIL]
        assertNothingExecuted()
    }
}
