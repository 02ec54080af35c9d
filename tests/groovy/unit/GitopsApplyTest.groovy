import org.junit.Test

class GitopsApplyTest extends HarnessTestBase {
    @Test
    void appliesTheRenderedDirectory() {
        fake.answer('gitops-apply', 0, '{"applied": true}')
        Map r = step('gitopsApply', [repo: 'sot', dir: 'build/dev/web'])
        assert argv('gitops-apply') == ['--repo=sot', '--json', '--', 'build/dev/web']
        assert r.json.applied
    }

    @Test
    void theApproverIsPassedAsOneValue() {
        step('gitopsApply', [dir: 'd', approvedBy: "o'neil \"the\" \$(approver)"])
        assert argv('gitops-apply') == ['--repo=.', "--approved-by=o'neil \"the\" \$(approver)".toString(), '--json', '--', 'd']
    }

    @Test
    void refusedWithoutApprovalIsExit3() {
        fake.answer('gitops-apply', 3)
        assert aborts { step('gitopsApply', [dir: 'prod/x']) }.message.contains('refused by a guard (exit 3)')
    }

    @Test
    void lockTimeoutAndCache() {
        step('gitopsApply', [dir: 'd', lockTimeout: 1, cacheDir: '/c'])
        assert argv('gitops-apply') == ['--repo=.', '--lock-timeout=1', '--cache-dir=/c', '--json', '--', 'd']
    }

    @Test
    void evilApproverIsData() {
        step('gitopsApply', [dir: 'd', approvedBy: EVIL])
        assert argv('gitops-apply')[1] == "--approved-by=${EVIL}".toString()
        assertNothingExecuted()
    }
}
