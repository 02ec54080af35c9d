// The whole GitOps flow of a source-of-truth repository; its Jenkinsfile is `gitopsPipeline()`.
//
// Push: the deployments the commit range affects (gitops-render --changed-since), wave by wave in
// dependency order, each wave under lock("gitops-<env>-<name>") of all its deployments and run in
// up to maxParallel lanes (parallel branches, one agent, checkout and install each): render, plan,
// archive plan.md; an unprotected change is applied and tagged in its lane; the protected ones
// wait for one approval per wave (input with submitter, outside any agent, inside a timeout) and
// are applied from their stashed plans. A deployment whose dependency failed is skipped; one
// affected only through dependencies whose outputs did not change is 'no changes'. Deleted
// requests, dependents first: approval, then gitops-destroy. Cron-triggered run (or mode:
// 'drift'): drift check of every deployment in lanes, no apply. Then the fleet report (gitopsReport: publishHTML, archived; a failing
// report makes the build unstable, never failed). Results: junit, currentBuild.description.
// See gitopsPipeline.txt.

def call(Map config = [:]) {
    Map cfg = [
        agent: '', sotDir: 'sot', out: 'build', jsonDir: '.gitops/json',
        approvers: env.GITOPS_APPROVERS, approvalTimeoutMinutes: 720, timeoutMinutes: 120,
        destroyApproval: true, allowDataLoss: false, firstBuild: 'all', since: null, mode: 'auto',
        driftCron: 'H 4 * * *', keepBuilds: '50', properties: true, timestamps: true, ansiColor: true,
        install: [:], vault: [:], checkout: [:], results: 'gitops-results.xml', report: [:],
        maxParallel: 4,
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
                return plainAffected(listed) + [range: "${since}..${scmVars.GIT_COMMIT ?: 'HEAD'}"]
            }
            if (cfg.firstBuild != 'all') {
                echo 'gitops: first build and firstBuild is not all: nothing to deploy'
                return [waves: [], needs: [:], viaDependencies: [], destroy: [], range: 'first build']
            }
            echo 'gitops: first build: every deployment, in dependency waves'
            Map listed = gitopsRender(repo: cfg.sotDir, all: true, list: true).json
            return plainAffected(listed) + [range: 'first build']
        }
    }
    List failedIds = []
    Map outputsChanged = [:]
    int n = 0
    for (List wave : affected.waves) {
        n++
        List todo = []
        for (String id : wave) {
            Map result = [deployment: id, action: 'deploy', status: 'pending']
            results << result
            List needs = affected.needs[id] ?: []
            String failedDep = needs.find { failedIds.contains(it) }
            if (failedDep) {
                result.status = 'skipped: dependency failed'
                result.error = "dependency ${failedDep} did not deploy"
                failedIds << id
            } else if (needs && affected.viaDependencies.contains(id) && needs.every { outputsChanged[it] == false }) {
                // Affected only through dependencies whose outputs stayed as they were.
                result.status = 'no changes'
                result.change = 'dependency outputs unchanged'
                outputsChanged[id] = false
            } else {
                todo << result
            }
        }
        if (todo) {
            echo "gitops: wave ${n} of ${affected.waves.size()}: ${todo*.deployment.join(', ')}"
            runWave(cfg, todo, n)
        }
        for (Map r : todo) {
            if (!(r.status in ['applied and tagged', 'no changes'])) {
                failedIds << r.deployment
            }
            outputsChanged[r.deployment] = r.status == 'applied and tagged' && r.outputsChanged != false
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

// What gitops-render --changed-since --list --json says, in plain lists and maps: the JSON's own
// collections are not serializable under CPS, and lock/input/node/parallel must not run inside a
// loop over them (these loops call no step). Without `waves` (an older gitops-render) each
// deployment is its own wave: one after the other, as before.
Map plainAffected(Map listed) {
    List waves = []
    if (listed.waves != null) {
        for (Object wave : listed.waves) {
            waves << plainList(wave)
        }
    } else {
        for (Object id : (listed.render ?: [:]).keySet()) {
            waves << [id as String]
        }
    }
    Map needs = [:]
    for (Object id : (listed.needs ?: [:]).keySet()) {
        needs[id as String] = plainList(listed.needs[id])
    }
    List viaDependencies = []
    for (Object id : (listed.render ?: [:]).keySet()) {
        List why = plainList(listed.render[id])
        if (why && why.every { it.startsWith('depends on ') }) {
            viaDependencies << (id as String)
        }
    }
    return [waves: waves, needs: needs, viaDependencies: viaDependencies, destroy: plainList(listed.destroy)]
}

List plainList(Object items) {
    List out = []
    for (Object i : (items ?: [])) {
        out << (i as String)
    }
    return out
}

// One wave under the locks of all its deployments: plan in lanes (an unprotected deployment with
// changes is applied and tagged right after its plan, in its lane); then one approval for the
// protected ones with changes, listing each with its plan's change summary; then their applies in
// lanes.
def runWave(Map cfg, List todo, int n) {
    List ids = todo*.deployment
    List extra = []
    for (String id : ids.drop(1)) {
        extra << [resource: lockName(id)]
    }
    lock(resource: lockName(ids[0]), extra: extra) {
        inLanes(cfg, todo) { Map result ->
            planOne(cfg, result)
            if (result.status == 'pending') {
                applyOne(cfg, result, false)
            }
        }
        List waiting = todo.findAll { it.status == 'planned' }
        String approver = waiting ? waveApproval(cfg, waiting, n) : null
        if (approver) {
            for (Map r : waiting) {
                r.approvedBy = approver
            }
            inLanes(cfg, waiting) { Map result ->
                applyOne(cfg, result, true)
            }
        }
    }
}

// One approval for the waiting deployments of a wave: who approved, or null after marking each
// (rejected, timed out, no approvers configured). An abort of the build propagates.
String waveApproval(Map cfg, List waiting, int n) {
    String approver = null
    String failure = null
    String status = 'failed'
    try {
        approver = approval(cfg, waveApprovalMessage(cfg, waiting, n), 'Apply')
    } catch (hudson.AbortException e) {
        failure = e.message
    } catch (org.jenkinsci.plugins.workflow.steps.FlowInterruptedException e) {
        String why = interruption(e)
        if (!why) {
            throw e
        }
        failure = why
        status = why
    }
    if (failure != null) {
        for (Map r : waiting) {
            r.status = status
            r.error = failure
        }
    }
    return approver
}

String waveApprovalMessage(Map cfg, List waiting, int n) {
    if (waiting.size() == 1) {
        Map r = waiting[0]
        return "Apply ${r.deployment}? ${r.change ?: 'See the plan'}. It is in a protected environment; the plan is archived as ${cfg.out}/${r.deployment}/plan.md."
    }
    List lines = []
    for (Map r : waiting) {
        lines << "- ${r.deployment}: ${r.change ?: 'see the plan'} (${cfg.out}/${r.deployment}/plan.md)"
    }
    return "Apply ${waiting.size()} deployments of wave ${n}? They are in protected environments; the plans are archived:\n" + lines.join('\n')
}

// The deployments split over at most cfg.maxParallel lanes (round robin), each lane one agent
// allocation: one checkout and install for all its deployments. One lane runs without parallel.
def inLanes(Map cfg, List items, Closure work) {
    int width = Math.max(1, Math.min((cfg.maxParallel ?: 1) as int, items.size()))
    List lanes = []
    for (int i = 0; i < width; i++) {
        lanes << []
    }
    for (int i = 0; i < items.size(); i++) {
        lanes[i % width] << items[i]
    }
    Map branches = [:]
    for (int i = 0; i < width; i++) {
        List lane = lanes[i]
        branches["lane ${i + 1}"] = {
            try {
                onAgent(cfg) { Map scmVars ->
                    for (Map result : lane) {
                        guarded(result) {
                            work.call(result)
                        }
                    }
                }
            } catch (hudson.AbortException e) {
                // The lane's agent, checkout or install failed: its deployments did not run.
                for (Map result : lane) {
                    if (result.status in ['pending', 'planned']) {
                        result.status = 'failed'
                        result.error = e.message
                    }
                }
            }
        }
    }
    if (width == 1) {
        branches['lane 1'].call()
    } else {
        parallel(branches)
    }
}

// Render and plan (on the lane's agent). 'no changes', or 'planned' for a protected deployment
// with changes (stashed for its apply after the approval), or still 'pending' (apply next).
def planOne(Map cfg, Map result) {
    String id = result.deployment
    String dir = "${cfg.out}/${id}"
    stage("Plan ${id}") {
        Map rendered = gitopsRender(repo: cfg.sotDir, deployment: id, out: dir)
        Map planned = gitopsPlan(repo: cfg.sotDir, dir: dir, vault: cfg.vault, propagate: false)
        archiveArtifacts(artifacts: "${dir}/plan.md,${dir}/plan.policy.json", allowEmptyArchive: true)
        result.summary = planned.json?.summary
        result.change = planned.json?.change_summary
        result.outputsChanged = planned.json?.outputs_changed == null ? null : !planned.json.outputs_changed.isEmpty()
        if (planned.code == 0) {
            result.status = 'no changes'
            result.outputsChanged = false
            return
        }
        if (planned.code != 4) {
            result.status = planned.status
            error("gitops-plan ${id}: ${planned.status} (exit ${planned.code}); see plan.md and the log")
        }
        if (rendered.json?.manifest?.protected == true) {
            stash(name: stashName(id), includes: "${dir}/**")
            result.status = 'planned'
        }
    }
}

// Apply and tag; after an approval on another agent, from the stashed plan.
def applyOne(Map cfg, Map result, boolean fromStash) {
    String id = result.deployment
    String dir = "${cfg.out}/${id}"
    stage("Apply ${id}") {
        if (fromStash) {
            unstash(stashName(id))
        }
        gitopsApply(repo: cfg.sotDir, dir: dir, approvedBy: result.approvedBy, vault: cfg.vault)
        result.status = 'applied'
        gitopsTag(repo: cfg.sotDir, dir: dir, vault: cfg.vault)
        result.status = 'applied and tagged'
    }
}

String stashName(String id) {
    return 'gitops-plan-' + id.replace('/', '-')
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
    List checks = []
    for (Map r : all.rendered) {
        Map result = [deployment: r.deployment as String, action: 'drift', status: 'pending']
        results << result
        checks << result
    }
    // Drift checks change nothing: all of them in lanes, each under its deployment's lock.
    inLanes(cfg, checks) { Map result ->
        lock(resource: lockName(result.deployment)) {
            driftOne(cfg, result)
        }
    }
    List driftStashes = []
    for (Map r : checks) {
        if (r.stash) {
            driftStashes << r.stash
        }
    }
    fleetReport(cfg, driftStashes)
    publish(cfg, results, 'drift check')
}

// drift.json of each deployment is stashed for the fleet report (which may run on another agent).
def driftOne(Map cfg, Map result) {
    String id = result.deployment
    stage("Drift ${id}") {
        String dir = "${cfg.out}/${id}"
        gitopsRender(repo: cfg.sotDir, deployment: id, out: dir)
        Map plan = gitopsPlan(repo: cfg.sotDir, dir: dir, drift: true, vault: cfg.vault, propagate: false)
        archiveArtifacts(artifacts: "${dir}/drift.md", allowEmptyArchive: true)
        junit(testResults: "${dir}/drift.xml", allowEmptyResults: true)
        String name = 'gitops-drift-' + id.replace('/', '-')
        stash(name: name, includes: "${dir}/drift.json", allowEmpty: true)
        result.stash = name
        result.status = plan.code == 4 ? 'drift' : (plan.code == 0 ? driftStatus(plan.json) : plan.status)
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
        if (result.status in ['pending', 'planned']) {
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
