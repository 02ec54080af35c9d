// gitops-render: one deployment, every deployment (all: true), or what a commit range affects
// (changedSince: REV; byRender: true compares the rendered root modules of REV and HEAD instead
// of the changed paths; list: true only lists). Returns [code, status, json, ...] (see gitopsRender.txt).

def call(Map config = [:]) {
    if (!config.deployment && !config.all && !config.changedSince) {
        error('gitopsRender: give deployment, all: true or changedSince')
    }
    Map values = [
        GITOPS_ARG_DEPLOYMENT: config.deployment,
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_OUT: config.out,
        GITOPS_ARG_ALL: config.all,
        GITOPS_ARG_CHANGED_SINCE: config.changedSince,
        GITOPS_ARG_BY_RENDER: config.byRender,
        GITOPS_ARG_LIST: config.list,
        GITOPS_ARG_CHECK: config.check,
        GITOPS_ARG_BUILD_TAG: config.buildTag,
        GITOPS_ARG_STATE_DIR: config.stateDir,
        GITOPS_ARG_CACHE_DIR: config.cacheDir,
        GITOPS_ARG_JOBS: config.jobs,
    ]
    return gitopsExec(
        binary: 'gitops-render',
        what: config.deployment ?: (config.changedSince ? "--changed-since ${config.changedSince}" : '--all'),
        key: "render-${config.deployment ?: 'fleet'}",
        env: values,
        propagate: config.propagate,
        script: 'gitops-render --repo="$GITOPS_ARG_REPO" ${GITOPS_ARG_OUT:+"--out=$GITOPS_ARG_OUT"} ${GITOPS_ARG_ALL:+--all} ${GITOPS_ARG_CHANGED_SINCE:+"--changed-since=$GITOPS_ARG_CHANGED_SINCE"} ${GITOPS_ARG_BY_RENDER:+--by-render} ${GITOPS_ARG_LIST:+--list} ${GITOPS_ARG_CHECK:+--check} ${GITOPS_ARG_BUILD_TAG:+"--build-tag=$GITOPS_ARG_BUILD_TAG"} ${GITOPS_ARG_STATE_DIR:+"--state-dir=$GITOPS_ARG_STATE_DIR"} ${GITOPS_ARG_CACHE_DIR:+"--cache-dir=$GITOPS_ARG_CACHE_DIR"} ${GITOPS_ARG_JOBS:+"--jobs=$GITOPS_ARG_JOBS"} --json -- ${GITOPS_ARG_DEPLOYMENT:+"$GITOPS_ARG_DEPLOYMENT"}')
}
