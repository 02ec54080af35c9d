// gitops-review: the review of a change request from the plans of its deployments (every *.json
// under from: gitops-plan --json, gitops-destroy --plan-only --json, or an error entry), written
// as review.md, review.html and review.json into out; with record: true the deployments'
// fingerprints are recorded as the tag review/<HEAD>/<n> (pushed to origin). Returns the Checks
// API fields (conclusion, title, summary, text) as plain values. See gitopsReview.txt.

def call(Map config = [:]) {
    if (!config.from || !config.out) {
        error('gitopsReview: from (the directory of the plans) and out (where the review goes) are required')
    }
    Map values = [
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_FROM: config.from,
        GITOPS_ARG_OUT: config.out,
        GITOPS_ARG_BASE: config.base,
        GITOPS_ARG_CHANGE: config.change,
        GITOPS_ARG_TARGET: config.target,
        GITOPS_ARG_ARTIFACT_URL: config.artifactUrl,
        GITOPS_ARG_RECORD: config.record,
    ]
    Map result = gitopsExec(
        binary: 'gitops-review',
        what: config.change ? "of change ${config.change}" : null,
        key: 'review',
        env: values,
        // It reads files and pushes a tag: no Vault login unless asked.
        vault: config.vault,
        propagate: config.propagate,
        script: 'gitops-review --repo="$GITOPS_ARG_REPO" --from="$GITOPS_ARG_FROM" --out="$GITOPS_ARG_OUT" ${GITOPS_ARG_BASE:+"--base=$GITOPS_ARG_BASE"} ${GITOPS_ARG_CHANGE:+"--change=$GITOPS_ARG_CHANGE"} ${GITOPS_ARG_TARGET:+"--target=$GITOPS_ARG_TARGET"} ${GITOPS_ARG_ARTIFACT_URL:+"--artifact-url=$GITOPS_ARG_ARTIFACT_URL"} ${GITOPS_ARG_RECORD:+--record} --json')
    // Plain values already (gitopsExec): nothing of the parsed JSON is kept across steps.
    Map json = (result.json ?: [:]) as Map
    return [code: result.code, status: result.status, json: json, jsonFile: result.jsonFile, dir: config.out as String,
            conclusion: json.conclusion, title: json.title, summary: json.summary, text: json.text,
            files: json.files ?: [:], record: json.record, rows: json.rows ?: json.review?.rows ?: [], error: json.error]
}
