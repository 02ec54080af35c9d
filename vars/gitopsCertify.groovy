// gitops-certify: action 'run' (default: certify component@version in the sandbox), 'revoke'
// (module@version with a reason), 'status' or 'matrix'.

def call(Map config = [:]) {
    String action = config.action ?: 'run'
    Map values = [
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_COMPONENT: config.component,
        GITOPS_ARG_VERSION: config.version,
        GITOPS_ARG_FORCE: config.force,
        GITOPS_ARG_JOBS: config.jobs,
        GITOPS_ARG_JUNIT: config.junit,
        GITOPS_ARG_SUMMARY: config.summary,
        GITOPS_ARG_MODULE: config.module,
        GITOPS_ARG_REASON: config.reason,
    ]
    String script
    String what
    switch (action) {
        case 'run':
            if (!config.component || !config.version) {
                error('gitopsCertify: component and version are required')
            }
            what = "${config.component}@${config.version}"
            script = 'gitops-certify run --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_FORCE:+--force} ${GITOPS_ARG_JOBS:+"--jobs=$GITOPS_ARG_JOBS"} ${GITOPS_ARG_JUNIT:+"--junit=$GITOPS_ARG_JUNIT"} ${GITOPS_ARG_SUMMARY:+"--summary=$GITOPS_ARG_SUMMARY"} --json -- "$GITOPS_ARG_COMPONENT" "$GITOPS_ARG_VERSION"'
            break
        case 'revoke':
            if (!config.module || !config.reason) {
                error('gitopsCertify: revoke needs module (<module>@<version>) and reason')
            }
            what = "revoke ${config.module}"
            script = 'gitops-certify revoke --repo="$GITOPS_ARG_REPO" --reason="$GITOPS_ARG_REASON" --json -- "$GITOPS_ARG_MODULE"'
            break
        case 'status':
            what = 'status'
            script = 'gitops-certify status --repo="$GITOPS_ARG_REPO" --json'
            break
        case 'matrix':
            what = 'matrix'
            script = 'gitops-certify matrix --repo="$GITOPS_ARG_REPO" --json'
            break
        default:
            error("gitopsCertify: action '${action}': allowed are run, revoke, status, matrix")
    }
    return gitopsExec(
        binary: 'gitops-certify',
        what: what,
        key: "certify-${action}",
        env: values,
        vault: action == 'run' ? (config.vault == null ? [:] : config.vault) : null,
        propagate: config.propagate,
        script: script)
}
