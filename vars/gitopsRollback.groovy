// gitops-rollback: returns a deployment to an earlier recorded deployment, as a new commit of the
// source-of-truth repo (the deploy pipeline then applies it).

def call(Map config = [:]) {
    if (!config.deployment) {
        error('gitopsRollback: deployment (<env>/<name>) is required')
    }
    Map values = [
        GITOPS_ARG_DEPLOYMENT: config.deployment,
        GITOPS_ARG_TO: config.to ?: 'previous',
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_ALLOW_DATA_LOSS: config.allowDataLoss,
        GITOPS_ARG_ALLOW_REVOKED: config.allowRevoked,
        GITOPS_ARG_DRY_RUN: config.dryRun,
    ]
    return gitopsExec(
        binary: 'gitops-rollback',
        what: config.deployment,
        key: "rollback-${config.deployment}",
        env: values,
        vault: config.vault == null ? [:] : config.vault,
        propagate: config.propagate,
        script: 'gitops-rollback --to="$GITOPS_ARG_TO" --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_ALLOW_DATA_LOSS:+--allow-data-loss} ${GITOPS_ARG_ALLOW_REVOKED:+--allow-revoked} ${GITOPS_ARG_DRY_RUN:+--dry-run} --json -- "$GITOPS_ARG_DEPLOYMENT"')
}
