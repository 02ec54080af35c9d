/**
 * Base class of every script the harness loads (vars/*.groovy, Jenkinsfiles): a call that is not a
 * method of the script goes to the harness, which runs the shared-library step or a pipeline step.
 */
abstract class HarnessScript extends Script {
    def methodMissing(String name, Object args) {
        return ((PipelineHarness) binding.getVariable('__harness')).dispatch(name, args as Object[])
    }
}
