import org.junit.Test

class GitopsPlanTest extends HarnessTestBase {
    @Test
    void exit4MeansChanges() {
        fake.answer('gitops-plan', 4, '{"changes": true, "summary": {"add": 3}}')
        Map r = step('gitopsPlan', [repo: 'sot', dir: 'build/dev/web'])
        assert argv('gitops-plan') == ['--repo=sot', '--json', '--', 'build/dev/web']
        assert r.changes && r.status == 'changes' && !r.drift
        assert r.json.summary.add == 3
    }

    @Test
    void exit0MeansNoChanges() {
        Map r = step('gitopsPlan', [dir: 'd'])
        assert !r.changes && r.status == 'ok'
    }

    @Test
    void exit3IsARefusalThatFailsTheStep() {
        fake.answer('gitops-plan', 3)
        def e = aborts { step('gitopsPlan', [dir: 'd']) }
        assert e.message.contains('gitops-plan d: refused by a guard (exit 3)')
    }

    @Test
    void exit3WithPropagateFalseIsReturned() {
        fake.answer('gitops-plan', 3)
        assert step('gitopsPlan', [dir: 'd', propagate: false]).status == 'refused'
    }

    @Test
    void exit1Fails() {
        fake.answer('gitops-plan', 1)
        assert aborts { step('gitopsPlan', [dir: 'd']) }.message.contains('failed (exit 1)')
    }

    @Test
    void driftModeWithJunitAndLockTimeout() {
        fake.answer('gitops-plan', 4)
        Map r = step('gitopsPlan', [dir: 'd', drift: true, junit: 'drift.xml', lockTimeout: 5, cacheDir: 'c'])
        assert argv('gitops-plan') == ['--repo=.', '--drift', '--junit=drift.xml', '--lock-timeout=5', '--cache-dir=c', '--json', '--', 'd']
        assert r.drift
    }

    @Test
    void appRoleCredentialsReachTheBinaryOnlyThroughItsEnvironment() {
        step('gitopsPlan', [dir: 'd', vault: [address: 'http://127.0.0.1:8200']])
        Map env = fake.calls('gitops-plan')[0].env
        assert env.VAULT_ROLE_ID == 'role-id-123'
        assert env.VAULT_SECRET_ID == SECRET
        assert env.VAULT_ADDR == 'http://127.0.0.1:8200'
        assert !h.shCalls[0].script.contains(SECRET)
        assert !h.logText().contains(SECRET)
        assert h.effectiveEnv().VAULT_SECRET_ID == null
    }

    @Test
    void secretTextCredentials() {
        h.credentials['rid'] = [secret: 'role-from-string']
        h.credentials['sid'] = [secret: SECRET]
        step('gitopsPlan', [dir: 'd', vault: [mode: 'approle-strings', roleIdCredentialsId: 'rid', secretIdCredentialsId: 'sid']])
        Map env = fake.calls('gitops-plan')[0].env
        assert env.VAULT_ROLE_ID == 'role-from-string' && env.VAULT_SECRET_ID == SECRET
    }

    @Test
    void vaultPluginTokenBinding() {
        h.credentials['vault-plugin-approle'] = [token: 'hvs.token-from-plugin']
        step('gitopsPlan', [dir: 'd', vault: [mode: 'plugin', credentialsId: 'vault-plugin-approle', address: 'https://vault:8200']])
        Map env = fake.calls('gitops-plan')[0].env
        assert env.VAULT_TOKEN == 'hvs.token-from-plugin' && env.VAULT_ADDR == 'https://vault:8200'
        assert !env.containsKey('VAULT_SECRET_ID')
    }

    @Test
    void noVaultMode() {
        h.credentials.clear()
        step('gitopsPlan', [dir: 'd', vault: [mode: 'none']])
        assert !fake.calls('gitops-plan')[0].env.containsKey('VAULT_SECRET_ID')
    }

    @Test
    void aMissingCredentialFailsBeforeTheBinary() {
        h.credentials.clear()
        def e = aborts { step('gitopsPlan', [dir: 'd']) }
        assert e.message.contains("Could not find credentials entry with ID 'gitops-vault-approle'")
        assert fake.calls() == []
    }

    @Test
    void evilDirIsData() {
        step('gitopsPlan', [dir: EVIL, repo: EVIL])
        assert argv('gitops-plan') == ["--repo=${EVIL}".toString(), '--json', '--', EVIL]
        assertNothingExecuted()
    }

    @Test
    void dirIsRequired() {
        assert aborts { step('gitopsPlan', [:]) }.message.contains('dir')
        assert fake.calls() == []
    }
}
