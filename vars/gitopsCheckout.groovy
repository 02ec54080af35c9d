// Checks out the source-of-truth repository into a sub-directory (default 'sot') of the workspace
// and returns the checkout's variables (GIT_COMMIT, GIT_PREVIOUS_SUCCESSFUL_COMMIT, ...).
//
// Without url: the job's own SCM (the deploy pipeline: the pushed revision and its range).
// With url (manual jobs pass env.GITOPS_SOT_URL): that repository, branch (default
// env.GITOPS_SOT_BRANCH, else main), credentialsId (default env.GITOPS_SOT_CREDENTIALS).

def call(Map config = [:]) {
    if (config.containsKey('url') && !config.url) {
        error('gitopsCheckout: no source-of-truth repository: set the global environment variable GITOPS_SOT_URL')
    }
    String url = config.url
    String into = config.dir ?: 'sot'
    Map vars = null
    dir(into) {
        if (url) {
            String branch = config.branch ?: env.GITOPS_SOT_BRANCH ?: 'main'
            vars = checkout([$class: 'GitSCM', branches: [[name: branch]],
                             extensions: [[$class: 'LocalBranch', localBranch: branch]],
                             userRemoteConfigs: [[url: url, credentialsId: config.credentialsId ?: env.GITOPS_SOT_CREDENTIALS]]])
        } else {
            vars = checkout(scm)
        }
    }
    return vars ?: [:]
}
