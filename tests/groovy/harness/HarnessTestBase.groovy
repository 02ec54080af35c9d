import org.junit.After
import org.junit.Before

/** A fresh harness, workspace and fake binary directory for every test. */
abstract class HarnessTestBase {
    public static final File ROOT = new File(System.getProperty('gitops.root') ?: '.').canonicalFile
    /** A value no shell may ever execute: quotes, substitutions, separators, a newline, a glob. */
    public static final String EVIL = 'x\'y"z $(touch PWNED1) `touch PWNED2`; touch PWNED3 && echo $HOME *\nnext | line'
    public static final String SECRET = 's3cr3t-secret-id-value'

    File tmp
    PipelineHarness h
    FakeBin fake

    @Before
    void setUpHarness() {
        tmp = File.createTempDir('groovy-harness', '')
        h = new PipelineHarness(ROOT, new File(tmp, 'ws'))
        fake = new FakeBin(tmp)
        fake.install(h)
        h.credentials['gitops-vault-approle'] = [username: 'role-id-123', password: SECRET]
    }

    @After
    void tearDownHarness() {
        tmp.deleteDir()
    }

    /** Runs a step on an agent (sh needs one), as a Jenkinsfile would. */
    Object step(String name, Map config) {
        return h.call('node', { h.call(name, config) })
    }

    /** The AbortException (`error` step, failed sh) a body throws; fails when there is none. */
    hudson.AbortException aborts(Closure body) {
        try {
            body()
        } catch (hudson.AbortException e) {
            return e
        }
        throw new AssertionError((Object) 'expected the step to fail (hudson.AbortException)')
    }

    /** No shell anywhere ran a piece of EVIL: no PWNED file in the workspace or the temp dir. */
    void assertNothingExecuted() {
        List<String> pwned = []
        tmp.eachFileRecurse { File f -> if (f.name.startsWith('PWNED')) { pwned << f.path } }
        assert pwned == []
        h.shCalls.each { Map c -> assert !c.script.contains('PWNED') }
    }

    List<String> argv(String bin, int index = 0) {
        return fake.calls(bin)[index].argv
    }
}
