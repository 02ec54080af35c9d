// gitops-destroy: guarded destruction of one deployment (confirm must be its name), or of the
// orphans (state without a request) with orphans: true.

def call(Map config = [:]) {
    Map values = [
        GITOPS_ARG_DEPLOYMENT: config.deployment,
        GITOPS_ARG_CONFIRM: config.confirm,
        GITOPS_ARG_APPROVED_BY: config.approvedBy,
        GITOPS_ARG_ALLOW_DATA_LOSS: config.allowDataLoss,
        GITOPS_ARG_REPO: config.repo ?: '.',
    ]
    Map vault = config.vault == null ? [:] : config.vault
    if (config.orphans) {
        return gitopsExec(binary: 'gitops-destroy', what: '--orphans', key: 'destroy-orphans', env: values,
            vault: vault, propagate: config.propagate,
            script: 'gitops-destroy --orphans --repo="$GITOPS_ARG_REPO" --json')
    }
    if (!config.deployment || !config.confirm) {
        error('gitopsDestroy: deployment (<env>/<name>) and confirm (its name) are required')
    }
    return gitopsExec(
        binary: 'gitops-destroy',
        what: config.deployment,
        key: "destroy-${config.deployment}",
        env: values,
        vault: vault,
        propagate: config.propagate,
        script: 'gitops-destroy --repo="$GITOPS_ARG_REPO" --confirm="$GITOPS_ARG_CONFIRM" ${GITOPS_ARG_APPROVED_BY:+"--approved-by=$GITOPS_ARG_APPROVED_BY"} ${GITOPS_ARG_ALLOW_DATA_LOSS:+--allow-data-loss} --json -- "$GITOPS_ARG_DEPLOYMENT"')
}
