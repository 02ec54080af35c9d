package org.jenkinsci.plugins.workflow.support.steps.input

/** Stand-in for the cause of a rejected `input`. */
class Rejection {
    final String user

    Rejection(String user) {
        this.user = user
    }
}
