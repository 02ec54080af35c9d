package hudson

/** Stand-in for Jenkins' hudson.AbortException (what the `error` step and a failed `sh` throw). */
class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
