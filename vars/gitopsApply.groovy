// gitops-apply: applies exactly the saved plan of a rendered directory. approvedBy is required by
// the binary for protected environments (exit 3 without it).

def call(Map config = [:]) {
    if (!config.dir) {
        error('gitopsApply: dir (the rendered directory) is required')
    }
    Map values = [
        GITOPS_ARG_DIR: config.dir,
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_APPROVED_BY: config.approvedBy,
        GITOPS_ARG_LOCK_TIMEOUT: config.lockTimeout,
        GITOPS_ARG_CACHE_DIR: config.cacheDir,
    ]
    return gitopsExec(
        binary: 'gitops-apply',
        what: config.dir,
        key: "apply-${config.dir}",
        env: values,
        vault: config.vault == null ? [:] : config.vault,
        propagate: config.propagate,
        script: 'gitops-apply --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_APPROVED_BY:+"--approved-by=$GITOPS_ARG_APPROVED_BY"} ${GITOPS_ARG_LOCK_TIMEOUT:+"--lock-timeout=$GITOPS_ARG_LOCK_TIMEOUT"} ${GITOPS_ARG_CACHE_DIR:+"--cache-dir=$GITOPS_ARG_CACHE_DIR"} --json -- "$GITOPS_ARG_DIR"')
}
