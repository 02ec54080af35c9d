// gitops-plan of a rendered directory, with Vault credentials. Exit 4 (changes, or drift with
// drift: true) returns with changes: true; 3 (policy deny, lock held) fails unless propagate: false.

def call(Map config = [:]) {
    if (!config.dir) {
        error('gitopsPlan: dir (the rendered directory) is required')
    }
    Map values = [
        GITOPS_ARG_DIR: config.dir,
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_DRIFT: config.drift,
        GITOPS_ARG_JUNIT: config.junit,
        GITOPS_ARG_LOCK_TIMEOUT: config.lockTimeout,
        GITOPS_ARG_CACHE_DIR: config.cacheDir,
    ]
    Map result = gitopsExec(
        binary: 'gitops-plan',
        what: config.dir,
        key: "plan-${config.dir}",
        env: values,
        vault: config.vault == null ? [:] : config.vault,
        propagate: config.propagate,
        script: 'gitops-plan --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_DRIFT:+--drift} ${GITOPS_ARG_JUNIT:+"--junit=$GITOPS_ARG_JUNIT"} ${GITOPS_ARG_LOCK_TIMEOUT:+"--lock-timeout=$GITOPS_ARG_LOCK_TIMEOUT"} ${GITOPS_ARG_CACHE_DIR:+"--cache-dir=$GITOPS_ARG_CACHE_DIR"} --json -- "$GITOPS_ARG_DIR"')
    result.changes = result.code == 4
    result.drift = config.drift && result.code == 4
    return result
}
