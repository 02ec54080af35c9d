// The whole GitOps flow of a source-of-truth repository; its Jenkinsfile is `gitopsPipeline()`.
//
// Push: the deployments the commit range affects (gitops-render --changed-since), each under
// lock("gitops-<env>-<name>"): render, plan, archive plan.md, stash the plan; approval (input with
// submitter, outside any agent, inside a timeout) for protected environments; apply; tag. Deleted
// requests: approval, then gitops-destroy. Cron-triggered run (or mode: 'drift'): drift check of
// every deployment, no apply. Then the fleet report (gitopsReport: publishHTML, archived; a failing
// report makes the build unstable, never failed). Results: junit, currentBuild.description.
// See gitopsPipeline.txt.

def call(Map config = [:]) {
    Map cfg = [
        agent: '', sotDir: 'sot', out: 'build', jsonDir: '.gitops/json',
        approvers: env.GITOPS_APPROVERS, approvalTimeoutMinutes: 720, timeoutMinutes: 120,
        destroyApproval: true, allowDataLoss: false, firstBuild: 'all', since: null, mode: 'auto',
        driftCron: 'H 4 * * *', keepBuilds: '50', properties: true, timestamps: true, ansiColor: true,
        install: [:], vault: [:], checkout: [:], results: 'gitops-results.xml', report: [:],
    ] + config
    if (cfg.properties) {
        properties([
            disableConcurrentBuilds(),
            buildDiscarder(logRotator(numToKeepStr: cfg.keepBuilds as String)),
            pipelineTriggers(cfg.driftCron ? [cron(cfg.driftCron)] : []),
        ])
    }
    boolean drift = cfg.mode == 'drift' || (cfg.mode == 'auto' && timerTriggered())
    List results = []
    decorated(cfg) {
        if (drift) {
            driftCheck(cfg, results)
        } else {
            deploy(cfg, results)
        }
    }
    return results
}

boolean timerTriggered() {
    return currentBuild.getBuildCauses('hudson.triggers.TimerTrigger$TimerTriggerCause').size() > 0
}

// timestamps/ansiColor where the plugins are installed (turn off with timestamps: false, ansiColor: false).
def decorated(Map cfg, Closure body) {
    Closure inner = body
    if (cfg.ansiColor) {
        Closure colored = inner
        inner = { ansiColor('xterm') { colored() } }
    }
    if (cfg.timestamps) {
        timestamps { inner() }
    } else {
        inner()
    }
}

// One stretch of work on an agent: checkout, toolkit binaries on PATH, a time limit.
def onAgent(Map cfg, Closure body) {
    def result = null
    node(cfg.agent) {
        timeout(time: cfg.timeoutMinutes, unit: 'MINUTES') {
            Map scmVars = gitopsCheckout(cfg.checkout + [dir: cfg.sotDir])
            gitopsInstall(cfg.install) {
                result = body(scmVars)
            }
        }
    }
    return result
}

def deploy(Map cfg, List results) {
    Map affected = onAgent(cfg) { Map scmVars ->
        String since = cfg.since ?: scmVars.GIT_PREVIOUS_SUCCESSFUL_COMMIT
        stage('Changes') {
            if (since) {
                echo "gitops: deployments affected by ${since}..${scmVars.GIT_COMMIT ?: 'HEAD'}"
                Map listed = gitopsRender(repo: cfg.sotDir, changedSince: since, list: true).json
                return [render: inWaveOrder(listed), destroy: plainList(listed.destroy), range: "${since}..${scmVars.GIT_COMMIT ?: 'HEAD'}"]
            }
            if (cfg.firstBuild != 'all') {
                echo 'gitops: first build and firstBuild is not all: nothing to deploy'
                return [render: [], destroy: [], range: 'first build']
            }
            echo 'gitops: first build: every deployment'
            Map all = gitopsRender(repo: cfg.sotDir, all: true, out: cfg.out).json
            List render = []
            for (Map r : all.rendered) {
                render << (r.deployment as String)
            }
            return [render: render, destroy: [], range: 'first build']
        }
    }
    for (String id : affected.render) {
        Map result = [deployment: id, action: 'deploy', status: 'pending']
        results << result
        lock(resource: lockName(id)) {
            guarded(result) {
                deployOne(cfg, id, result)
            }
        }
    }
    for (String id : affected.destroy) {
        Map result = [deployment: id, action: 'destroy', status: 'pending']
        results << result
        lock(resource: lockName(id)) {
            guarded(result) {
                destroyOne(cfg, id, result)
            }
        }
    }
    fleetReport(cfg, [])
    publish(cfg, results, affected.range as String)
}

// The affected deployments of `gitops-render --changed-since --list --json` in its wave order
// (a deployment after the affected deployments it depends on), as a plain list: the JSON's own
// collections are not serializable under CPS, and lock/input/node must not run inside a loop
// over them (these loops call no step).
List inWaveOrder(Map listed) {
    List order = []
    if (listed.waves) {
        for (Object wave : listed.waves) {
            for (Object id : wave) {
                order << (id as String)
            }
        }
    } else {
        for (Object id : (listed.render ?: [:]).keySet()) {
            order << (id as String)
        }
    }
    return order
}

List plainList(Object items) {
    List out = []
    for (Object i : (items ?: [])) {
        out << (i as String)
    }
    return out
}

def deployOne(Map cfg, String id, Map result) {
    String dir = "${cfg.out}/${id}"
    String stashName = 'gitops-plan-' + id.replace('/', '-')
    Map plan = onAgent(cfg) { Map scmVars ->
        Map planned = null
        stage("Plan ${id}") {
            Map rendered = gitopsRender(repo: cfg.sotDir, deployment: id, out: dir)
            planned = gitopsPlan(repo: cfg.sotDir, dir: dir, vault: cfg.vault, propagate: false)
            planned.protected = rendered.json?.manifest?.protected == true
            archiveArtifacts(artifacts: "${dir}/plan.md,${dir}/plan.policy.json", allowEmptyArchive: true)
            if (planned.code == 4) {
                stash(name: stashName, includes: "${dir}/**")
            }
        }
        return planned
    }
    result.summary = plan.json?.summary
    result.change = plan.json?.change_summary
    if (plan.code == 0) {
        result.status = 'no changes'
        return
    }
    if (plan.code != 4) {
        result.status = plan.status
        error("gitops-plan ${id}: ${plan.status} (exit ${plan.code}); see plan.md and the log")
    }
    String approver = null
    if (plan.protected) {
        approver = approval(cfg, "Apply ${id}? ${result.change ?: 'See the plan'}. It is in a protected environment; the plan is archived as ${dir}/plan.md.", 'Apply')
        result.approvedBy = approver
    }
    onAgent(cfg) { Map scmVars ->
        stage("Apply ${id}") {
            unstash(stashName)
            gitopsApply(repo: cfg.sotDir, dir: dir, approvedBy: approver, vault: cfg.vault)
            result.status = 'applied'
            gitopsTag(repo: cfg.sotDir, dir: dir, vault: cfg.vault)
            result.status = 'applied and tagged'
        }
    }
}

def destroyOne(Map cfg, String id, Map result) {
    String name = id.tokenize('/')[1]
    String approver = null
    if (cfg.destroyApproval) {
        approver = approval(cfg, "Destroy ${id}? Its request was deleted; every resource of it will be destroyed.", 'Destroy')
        result.approvedBy = approver
    }
    onAgent(cfg) { Map scmVars ->
        stage("Destroy ${id}") {
            gitopsDestroy(repo: cfg.sotDir, deployment: id, confirm: name, approvedBy: approver,
                          allowDataLoss: cfg.allowDataLoss, vault: cfg.vault)
            result.status = 'destroyed'
        }
    }
}

// input with submitter, never on an agent, always inside a timeout. Returns who approved.
String approval(Map cfg, String message, String ok) {
    if (!cfg.approvers) {
        error('gitopsPipeline: an approval is needed but no approvers are configured (approvers: or GITOPS_APPROVERS)')
    }
    String who = null
    stage('Approval') {
        timeout(time: cfg.approvalTimeoutMinutes, unit: 'MINUTES') {
            who = input(message: message, ok: ok, submitter: cfg.approvers as String, submitterParameter: 'APPROVER')
        }
    }
    return who
}

def driftCheck(Map cfg, List results) {
    Map all = onAgent(cfg) { Map scmVars ->
        stage('Render') {
            return gitopsRender(repo: cfg.sotDir, all: true, out: cfg.out).json
        }
    }
    List driftStashes = []
    for (Map r : all.rendered) {
        String id = r.deployment
        Map result = [deployment: id, action: 'drift', status: 'pending']
        results << result
        lock(resource: lockName(id)) {
            guarded(result) {
                driftOne(cfg, id, result, driftStashes)
            }
        }
    }
    fleetReport(cfg, driftStashes)
    publish(cfg, results, 'drift check')
}

// drift.json of each deployment is stashed for the fleet report (which may run on another agent).
def driftOne(Map cfg, String id, Map result, List driftStashes) {
    onAgent(cfg) { Map scmVars ->
        stage("Drift ${id}") {
            String dir = "${cfg.out}/${id}"
            gitopsRender(repo: cfg.sotDir, deployment: id, out: dir)
            Map plan = gitopsPlan(repo: cfg.sotDir, dir: dir, drift: true, vault: cfg.vault, propagate: false)
            archiveArtifacts(artifacts: "${dir}/drift.md", allowEmptyArchive: true)
            junit(testResults: "${dir}/drift.xml", allowEmptyResults: true)
            String stashName = 'gitops-drift-' + id.replace('/', '-')
            stash(name: stashName, includes: "${dir}/drift.json", allowEmpty: true)
            driftStashes << stashName
            result.status = plan.code == 4 ? 'drift' : (plan.code == 0 ? driftStatus(plan.json) : plan.status)
        }
    }
    if (result.status == 'drift') {
        unstable("drift in ${id}: see ${cfg.out}/${id}/drift.md")
    } else if (!(result.status in ['in sync', 'never deployed', 'destroyed'])) {
        error("gitops-plan --drift ${id}: ${result.status}")
    }
}

// The fleet report of the repo after the deployments of this build: gitopsReport with
// cfg.report's options (report: false turns it off), in stage 'Report' on an agent; after a drift
// check with the drift.json of every deployment checked (unstashed under .gitops/drift/). A
// failing report (binary, publishHTML) marks the build unstable: the deploys stand, the build goes on.
def fleetReport(Map cfg, List driftStashes) {
    if (cfg.report == null || cfg.report == false) {
        return
    }
    Map options = [repo: cfg.sotDir, vault: cfg.vault] + (cfg.report instanceof Map ? cfg.report : [:])
    try {
        onAgent(cfg) { Map scmVars ->
            stage('Report') {
                if (driftStashes && !options.driftDir) {
                    dir('.gitops/drift') {
                        deleteDir()
                        for (String name : driftStashes) {
                            unstash(name)
                        }
                    }
                    options.driftDir = ".gitops/drift/${cfg.out}" as String
                }
                Map report = gitopsReport(options)
                Map t = report.totals
                if (report.code in [0, 4]) {
                    echo "gitops: fleet report ${report.dir}/report.html: ${t.deployments} deployments, ${t.drifted} drifted, ${t.orphans} orphans, ${t.at_risk} at risk"
                } else {
                    unstable("gitops: the fleet report failed (${report.status}, exit ${report.code}), the deployments are not affected")
                }
            }
        }
    } catch (hudson.AbortException e) {
        unstable("gitops: the fleet report failed, the deployments are not affected: ${e.message}")
    }
}

// 'in sync', or what the drift check says of a deployment it could not compare: 'never deployed'
// (no deploy/ record yet), 'destroyed'.
String driftStatus(Map json) {
    String status = json?.drift_status
    return status ? status.replace('_', ' ') : 'in sync'
}

// A failure of one deployment (a failed or refused binary, a rejected approval...) is recorded
// and the others go on; the build fails at the end. An abort of the build itself propagates.
def guarded(Map result, Closure body) {
    try {
        body()
    } catch (hudson.AbortException e) {
        if (result.status == 'pending') {
            result.status = 'failed'
        } else if (result.status == 'applied') {
            result.status = 'applied, tag failed'
        }
        result.error = e.message
    } catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException e) {
        String why = interruption(e)
        if (!why) {
            throw e
        }
        result.status = why
        result.error = why
    }
}

// 'rejected' for a rejected approval, 'timed out' for an exceeded timeout, null for an abort.
String interruption(Object e) {
    for (Object cause : e.causes) {
        String kind = cause.getClass().simpleName
        if (kind == 'Rejection') {
            return 'rejected'
        }
        if (kind == 'ExceededTimeout') {
            return 'timed out'
        }
    }
    return null
}

String lockName(String id) {
    return 'gitops-' + id.replace('/', '-')
}

// junit results (one test case per deployment and action), description, build result.
def publish(Map cfg, List results, String range) {
    List cases = []
    List lines = []
    int failed = 0
    for (Map r : results) {
        boolean bad = !(r.status in ['applied and tagged', 'no changes', 'destroyed', 'in sync', 'drift', 'never deployed'])
        if (bad) {
            failed++
        }
        String body = bad ? "<failure message=\"${xml(r.status as String)}\">${xml((r.error ?: r.status) as String)}</failure>" : ''
        cases << "  <testcase classname=\"gitops.${xml(r.action as String)}\" name=\"${xml(r.deployment as String)}\">${body}</testcase>"
        lines << "${r.deployment}: ${r.status}" + (r.approvedBy ? " (approved by ${r.approvedBy})" : '') + (r.change ? " - plan: ${r.change}" : '')
    }
    String text = '<?xml version="1.0" encoding="UTF-8"?>\n' +
        "<testsuite name=\"gitops\" tests=\"${results.size()}\" failures=\"${failed}\">\n" + cases.join('\n') + '\n</testsuite>\n'
    node(cfg.agent) {
        writeFile(file: cfg.results as String, text: text)
        junit(testResults: cfg.results as String, allowEmptyResults: true)
    }
    currentBuild.description = results ? lines.join('\n') : "nothing to do (${range})"
    echo "gitops: ${range}\n  " + (results ? lines.join('\n  ') : 'no deployment affected')
    if (failed > 0) {
        error("gitopsPipeline: ${failed} of ${results.size()} deployment(s) failed: " + lines.join('; '))
    }
}

String xml(String s) {
    return (s ?: '').replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;')
}
