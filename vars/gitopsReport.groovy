// gitops-report: the fleet report of a source-of-truth repository (report.html, report.json,
// report.md in dir), published with the HTML Publisher plugin and archived. Returns the totals.

def call(Map config = [:]) {
    String reportDir = (config.dir ?: 'gitops-report') as String
    Map values = [
        GITOPS_ARG_REPO: config.repo ?: '.',
        GITOPS_ARG_OUT: reportDir,
        GITOPS_ARG_DRIFT_DIR: config.driftDir,
    ]
    Map result = gitopsExec(
        binary: 'gitops-report',
        key: 'report',
        env: values,
        // Local states are read from disk: no Vault login unless asked (a backend whose state
        // needs credentials: the same `vault` option as gitopsPlan).
        vault: config.vault == null ? [mode: 'none'] : config.vault,
        propagate: config.propagate,
        script: 'gitops-report --repo="$GITOPS_ARG_REPO" --out="$GITOPS_ARG_OUT" ${GITOPS_ARG_DRIFT_DIR:+"--drift-dir=$GITOPS_ARG_DRIFT_DIR"} --json')
    // Plain values already (gitopsExec): nothing of the parsed JSON is kept across steps.
    Map json = (result.json ?: [:]) as Map
    Map report = [code: result.code, status: result.status, json: json, jsonFile: result.jsonFile, dir: reportDir,
                  totals: json.totals ?: [:], files: [html: json.html, json: json.json, md: json.md], published: false]
    if (!(result.code in [0, 4])) {
        return report
    }
    // publishHTML does not fail on a missing report: it marks the whole build FAILURE. Fail this
    // step instead, so a caller can catch it (gitopsPipeline: unstable, the deploys stand).
    if (!fileExists("${reportDir}/report.html")) {
        error("gitopsReport: gitops-report wrote no ${reportDir}/report.html (exit ${result.code}); nothing published")
    }
    if (config.publish == null || config.publish) {
        publishHTML(target: [reportDir: reportDir, reportFiles: 'report.html', reportName: (config.reportName ?: 'Fleet report') as String,
                             keepAll: true, alwaysLinkToLastBuild: true, allowMissing: false])
        report.published = true
    }
    archiveArtifacts(artifacts: "${reportDir}/report.*")
    return report
}
