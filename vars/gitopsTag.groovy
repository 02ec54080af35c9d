// gitops-tag: records an applied deployment in git (annotated tag, pushed) and verifies the tags on
// its resources; history: '<env>/<name>' lists the recorded deployments instead.

def call(Map config = [:]) {
    if (!config.dir && !config.history) {
        error('gitopsTag: give dir (a rendered, applied directory) or history (<env>/<name>)')
    }
    Map values = [
        GITOPS_ARG_DIR: config.dir,
        GITOPS_ARG_HISTORY: config.history,
        GITOPS_ARG_REPO: config.repo ?: '.',
    ]
    if (config.history) {
        return gitopsExec(binary: 'gitops-tag', what: "history ${config.history}", key: "tag-history-${config.history}",
            env: values, propagate: config.propagate,
            script: 'gitops-tag history --repo="$GITOPS_ARG_REPO" --json -- "$GITOPS_ARG_HISTORY"')
    }
    return gitopsExec(binary: 'gitops-tag', what: config.dir, key: "tag-${config.dir}",
        env: values, propagate: config.propagate,
        vault: config.vault == null ? [:] : config.vault,
        script: 'gitops-tag --repo="$GITOPS_ARG_REPO" --json -- "$GITOPS_ARG_DIR"')
}
