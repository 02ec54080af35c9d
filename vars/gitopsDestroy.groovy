// gitops-destroy: guarded destruction of one deployment (confirm must be its name), of the
// orphans (state without a request) with orphans: true, or only its plan with planOnly: true
// (nothing destroyed, no confirmation or approval: what a review of a change request shows).

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
    if (config.planOnly) {
        return planOnly(config, vault)
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

// The destroy plan of a deployment (also one whose request is deleted: the binary renders it from
// its last recorded deployment). Exit 0 nothing to destroy, 4 changes (changes: true), 3 a policy
// deny, 1/2 errors (failing the step unless propagate: false).
def planOnly(Map config, Map vault) {
    if (!config.deployment) {
        error('gitopsDestroy: planOnly needs deployment (<env>/<name>)')
    }
    Map values = [
        GITOPS_ARG_DEPLOYMENT: config.deployment,
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_PLAN_ONLY: true,
        GITOPS_ARG_OUT: config.out,
        GITOPS_ARG_CACHE_DIR: config.cacheDir,
        GITOPS_ARG_STATE_DIR: config.stateDir,
    ]
    Map result = gitopsExec(
        binary: 'gitops-destroy',
        what: "--plan-only ${config.deployment}",
        key: "destroy-plan-${config.deployment}",
        env: values,
        vault: vault,
        propagate: config.propagate,
        script: 'gitops-destroy --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_PLAN_ONLY:+--plan-only} ${GITOPS_ARG_OUT:+"--out=$GITOPS_ARG_OUT"} ${GITOPS_ARG_CACHE_DIR:+"--cache-dir=$GITOPS_ARG_CACHE_DIR"} ${GITOPS_ARG_STATE_DIR:+"--state-dir=$GITOPS_ARG_STATE_DIR"} --json -- "$GITOPS_ARG_DEPLOYMENT"')
    result.changes = result.code == 4
    return result
}
