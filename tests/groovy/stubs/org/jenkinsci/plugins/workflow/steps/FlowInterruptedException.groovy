package org.jenkinsci.plugins.workflow.steps

/** Stand-in for Jenkins' FlowInterruptedException (a rejected input, an exceeded timeout, an abort). */
class FlowInterruptedException extends InterruptedException {
    final List causes

    FlowInterruptedException(List causes) {
        super('interrupted: ' + causes*.getClass()*.simpleName.join(', '))
        this.causes = causes
    }

    List getCauses() {
        return causes
    }
}
