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
    void planOnlyNeedsNoConfirmationAndReturnsTheDestroyPlan() {
        fake.answer('gitops-destroy', 4, '{"deployment": "dev/old", "destroy": true, "change_summary": "0 to add, 0 to change, 9 to destroy"}')
        Map r = step('gitopsDestroy', [repo: 'sot', deployment: 'dev/old', planOnly: true])
        assert argv('gitops-destroy') == ['--repo=sot', '--plan-only', '--json', '--', 'dev/old']
        assert r.code == 4 && r.changes && r.json.destroy == true
        assert fake.calls('gitops-destroy')[0].env.VAULT_SECRET_ID == SECRET
    }

    @Test
    void planOnlyOptionsAndNothingToDestroy() {
        fake.answer('gitops-destroy', 0, '{"deployment": "dev/old", "destroy": true}')
        Map r = step('gitopsDestroy', [deployment: 'dev/old', planOnly: true, out: 'build/dev/old', cacheDir: 'c', stateDir: 's',
                                       vault: [mode: 'none']])
        assert argv('gitops-destroy') == ['--repo=.', '--plan-only', '--out=build/dev/old', '--cache-dir=c', '--state-dir=s', '--json', '--', 'dev/old']
        assert r.code == 0 && !r.changes
        assert !fake.calls('gitops-destroy')[0].env.containsKey('VAULT_SECRET_ID')
    }

    @Test
    void planOnlyPropagatesOrReturnsAPolicyDeny() {
        fake.answer('gitops-destroy', 3, '{"error": "denied", "exit_code": 3, "status": "refused"}')
        assert aborts { step('gitopsDestroy', [deployment: 'dev/old', planOnly: true]) }.message.contains('gitops-destroy --plan-only dev/old: refused by a guard (exit 3)')
        Map r = step('gitopsDestroy', [deployment: 'dev/old', planOnly: true, propagate: false])
        assert r.code == 3 && r.status == 'refused' && !r.changes && r.json.error == 'denied'
    }

    @Test
    void planOnlyNeedsTheDeployment() {
        assert aborts { step('gitopsDestroy', [planOnly: true]) }.message.contains('planOnly needs deployment')
        assert fake.calls() == []
    }

    @Test
    void planOnlyEvilValuesAreData() {
        step('gitopsDestroy', [deployment: EVIL, planOnly: true, out: EVIL])
        assert argv('gitops-destroy') == ['--repo=.', '--plan-only', "--out=${EVIL}".toString(), '--json', '--', EVIL]
        assertNothingExecuted()
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
