/** Base class of the Job DSL script under test: every top-level DSL call is recorded. */
abstract class DslScript extends Script {
    def methodMissing(String name, Object args) {
        DslNode n = DslNode.of(name, args as Object[])
        ((DslRecorder) binding.getVariable('__dsl')).top << n
        return n
    }
}

