import org.junit.Test

class GitopsRollbackTest extends HarnessTestBase {
    @Test
    void defaultsToThePreviousDeployment() {
        step('gitopsRollback', [repo: 'sot', deployment: 'dev/web'])
        assert argv('gitops-rollback') == ['--to=previous', '--repo=sot', '--json', '--', 'dev/web']
    }

    @Test
    void everyFlag() {
        step('gitopsRollback', [deployment: 'dev/web', to: '3', allowDataLoss: true, allowRevoked: true, dryRun: true])
        assert argv('gitops-rollback') == ['--to=3', '--repo=.', '--allow-data-loss', '--allow-revoked', '--dry-run', '--json', '--', 'dev/web']
    }

    @Test
    void dataLossIsRefusedWithExit3() {
        fake.answer('gitops-rollback', 3)
        assert aborts { step('gitopsRollback', [deployment: 'dev/db']) }.message.contains('refused by a guard (exit 3)')
        fake.answer('gitops-rollback', 3)
        assert step('gitopsRollback', [deployment: 'dev/db', propagate: false]).status == 'refused'
    }

    @Test
    void falseFlagsAreNotPassedEvenWhenTheAgentEnvironmentHasThem() {
        h.baseEnv.GITOPS_ARG_ALLOW_DATA_LOSS = '1'
        step('gitopsRollback', [deployment: 'dev/web', allowDataLoss: false])
        assert !argv('gitops-rollback').contains('--allow-data-loss')
    }

    @Test
    void evilTargetIsData() {
        step('gitopsRollback', [deployment: 'dev/web', to: EVIL])
        assert argv('gitops-rollback')[0] == "--to=${EVIL}".toString()
        assertNothingExecuted()
    }
}
