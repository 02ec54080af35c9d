import org.junit.Test

class GitopsDestroyTest extends HarnessTestBase {
    @Test
    void destroysWithConfirmationAndApprover() {
        step('gitopsDestroy', [repo: 'sot', deployment: 'dev/web', confirm: 'web', approvedBy: 'alice'])
        assert argv('gitops-destroy') == ['--repo=sot', '--confirm=web', '--approved-by=alice', '--json', '--', 'dev/web']
    }

    @Test
    void allowDataLoss() {
        step('gitopsDestroy', [deployment: 'dev/db', confirm: 'db', allowDataLoss: true])
        assert argv('gitops-destroy') == ['--repo=.', '--confirm=db', '--allow-data-loss', '--json', '--', 'dev/db']
    }

    @Test
    void orphans() {
        step('gitopsDestroy', [orphans: true, repo: 'sot'])
        assert argv('gitops-destroy') == ['--orphans', '--repo=sot', '--json']
    }

    @Test
    void confirmIsRequiredBeforeAnyBinary() {
        assert aborts { step('gitopsDestroy', [deployment: 'dev/web']) }.message.contains('confirm')
        assert fake.calls() == []
    }

    @Test
    void aWrongConfirmationIsInvalidInput() {
        fake.answer('gitops-destroy', 2)
        assert aborts { step('gitopsDestroy', [deployment: 'dev/web', confirm: 'nope']) }.message.contains('invalid input (exit 2)')
    }

    @Test
    void evilValuesAreData() {
        step('gitopsDestroy', [deployment: EVIL, confirm: EVIL, approvedBy: EVIL])
        assert argv('gitops-destroy') == ['--repo=.', "--confirm=${EVIL}".toString(), "--approved-by=${EVIL}".toString(), '--json', '--', EVIL]
        assertNothingExecuted()
    }
}
