import org.codehaus.groovy.control.CompilerConfiguration

/**
 * Runs a Job DSL script (jenkins/seed.groovy) against a recorder: every DSL call becomes a node
 * with its arguments and the calls of its closure, so a test can read the jobs and parameters.
 */
class DslRecorder {
    final List<DslNode> top = []

    void run(File script, Map variables) {
        Binding b = new Binding(new LinkedHashMap(variables))
        b.setVariable('__dsl', this)
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = DslScript.name
        Script s = new GroovyShell(DslRecorder.classLoader, b, cc).parse(script)
        s.run()
    }

    List<DslNode> jobs() {
        return top.findAll { it.name == 'pipelineJob' }
    }

    DslNode job(String name) {
        return jobs().find { it.args[0] as String == name }
    }
}

