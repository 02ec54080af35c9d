import org.junit.Test

class GitopsValidateTest extends HarnessTestBase {
    @Test
    void goodValuesPass() {
        Map p = h.call('gitopsValidate', [ENV: ['dev', 'name'], V: ['1.2.0-rc.1', 'version'], T: ['previous', 'target'],
                                          T2: ['12', 'target'], T3: ['dev/web/3', 'target'], B: [true, 'bool'], D: ['dev/web', 'deployment']])
        assert p == [ENV: 'dev', V: '1.2.0-rc.1', T: 'previous', T2: '12', T3: 'dev/web/3', B: 'true', D: 'dev/web']
    }

    @Test
    void everyBadValueIsNamedOnce() {
        def e = aborts {
            h.call('gitopsValidate', [ENV: ['Dev', 'name'], V: ['1.2', 'version'], T: ['$(id)', 'target'], N: ["web\nx", 'name'], B: ['yes', 'bool']])
        }
        ['ENV:', 'V:', 'T:', 'N:', 'B:'].each { assert e.message.contains(it) }
        assert e.message.contains("'web\\nx'")
        assert h.shCalls == []
    }

    @Test
    void nullAndEmptyAreInvalid() {
        assert aborts { h.call('gitopsValidate', [ENV: [null, 'name']]) }.message.contains('ENV')
        assert aborts { h.call('gitopsValidate', [ENV: ['', 'name']]) }.message.contains('ENV')
    }
}
