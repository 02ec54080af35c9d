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
// Change request (a multibranch pull-request build, env.CHANGE_ID; or mode: 'review'): the
// deployments whose render differs from the merge base are planned (destroys too), nothing is
// applied; gitopsReview summarizes the plans, records them (tag review/<head>/<n>) and the
// summary goes to publishChecks (and pullRequest.comment with review: [comment: true]).
// See gitopsPipeline.txt.

def call(Map config = [:]) {
    Map cfg = [
        agent: '', sotDir: 'sot', out: 'build', jsonDir: '.gitops/json',
        approvers: env.GITOPS_APPROVERS, approvalTimeoutMinutes: 720, timeoutMinutes: 120,
        destroyApproval: true, allowDataLoss: false, firstBuild: 'all', since: null, mode: 'auto',
        driftCron: 'H 4 * * *', keepBuilds: '50', properties: true, timestamps: true, ansiColor: true,
        install: [:], vault: [:], checkout: [:], results: 'gitops-results.xml', report: [:],
        maxParallel: 4, review: [:],
    ] + config
    boolean review = cfg.mode == 'review' || (cfg.mode == 'auto' && env.CHANGE_ID)
    boolean drift = !review && (cfg.mode == 'drift' || (cfg.mode == 'auto' && timerTriggered()))
    if (cfg.properties) {
        properties([
            disableConcurrentBuilds(),
            buildDiscarder(logRotator(numToKeepStr: cfg.keepBuilds as String)),
            // A change request's job gets no nightly drift check: the target branch's job has it.
            pipelineTriggers(cfg.driftCron && !review ? [cron(cfg.driftCron)] : []),
        ])
    }
    List results = []
    decorated(cfg) {
        if (review) {
            reviewChange(cfg, results)
        } else if (drift) {
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

// Change-request mode: the review of a pull request before it merges. Nothing is applied,
// tagged or committed and nobody is asked: every deployment whose render differs from the merge
// base is planned (in the waves' order and lanes; a dependency's plan is not applied, so its
// dependents plan against the current state), each deleted request gets a destroy plan; the
// plans (or an error entry each) go to gitopsReview on one agent, whose summary is published
// with publishChecks. Its FAILURE conclusion fails the build, ACTION_REQUIRED and SUCCESS do not.
def reviewChange(Map cfg, List results) {
    Map rc = reviewOptions(cfg)
    Map affected = onAgent(cfg) { Map scmVars ->
        stage('Changes') {
            String base = rc.base ?: mergeBase(cfg, rc.target as String)
            echo "gitops: review of ${rc.what}: the deployments whose render differs from ${base} (merge base with ${rc.target})"
            Map listed = gitopsRender(repo: cfg.sotDir, changedSince: base, byRender: true, list: true).json
            return plainAffected(listed) + [base: base]
        }
    }
    int n = 0
    for (List wave : affected.waves) {
        n++
        List todo = []
        for (String id : wave) {
            Map result = [deployment: id, action: 'deploy', status: 'pending']
            results << result
            todo << result
        }
        echo "gitops: wave ${n} of ${affected.waves.size()} (plans only): ${todo*.deployment.join(', ')}"
        inLanes(cfg, todo) { Map result ->
            reviewPlanOne(cfg, rc, result)
        }
    }
    List destroys = []
    for (String id : affected.destroy) {
        Map result = [deployment: id, action: 'destroy', status: 'pending']
        results << result
        destroys << result
    }
    if (destroys) {
        echo "gitops: destroy plans (nothing is destroyed): ${destroys*.deployment.join(', ')}"
        inLanes(cfg, destroys) { Map result ->
            reviewDestroyOne(cfg, rc, result)
        }
    }
    Map reviewed = summarizeReview(cfg, rc, results, affected.base as String)
    publishReview(rc, reviewed, results)
}

// cfg.review with its defaults: the plan-only Vault login (default cfg.vault), the check's name,
// the PR comment (off), the record tag (on), where the inputs and the review go, the target.
Map reviewOptions(Map cfg) {
    Map rc = [vault: cfg.vault, checksName: 'gitops', checks: true, comment: false, record: true,
              dir: 'gitops-review', inputDir: '.gitops/review', target: env.CHANGE_TARGET ?: 'main', base: null] +
        (cfg.review instanceof Map ? cfg.review : [:])
    if (rc.vault == null) {
        rc.vault = cfg.vault
    }
    rc.what = env.CHANGE_ID ? "PR ${env.CHANGE_ID}" : "${env.BRANCH_NAME ?: 'HEAD'} into ${rc.target}"
    return rc
}

// The merge base of HEAD (the change request's head) and the target branch, fetched first: a
// pull-request checkout may not have it, or an old copy. The branch name reaches git as an
// environment variable, never as shell text.
String mergeBase(Map cfg, String target) {
    if (!target) {
        error('gitopsPipeline: review: no target branch (env.CHANGE_TARGET or review: [target: ...])')
    }
    String base = null
    withEnv(["GITOPS_ARG_TARGET=${target}"]) {
        dir(cfg.sotDir as String) {
            base = sh(returnStdout: true, label: 'git merge-base', script: '''ref="refs/remotes/origin/$GITOPS_ARG_TARGET"
if ! git fetch -q --no-tags origin "+refs/heads/$GITOPS_ARG_TARGET:$ref"; then
  git rev-parse -q --verify "$ref^{commit}" >/dev/null || { echo "gitops: cannot fetch $GITOPS_ARG_TARGET from origin" >&2; exit 1; }
  echo "gitops: fetching $GITOPS_ARG_TARGET from origin failed; using $ref as checked out" >&2
fi
git merge-base HEAD "$ref"''').trim()
        }
    }
    return base
}

// Render and plan one deployment for the review, in its lane, with the plan-only Vault login;
// the deployment's lock is held around its plan only.
def reviewPlanOne(Map cfg, Map rc, Map result) {
    String id = result.deployment
    String dir = "${cfg.out}/${id}"
    stage("Plan ${id}") {
        Map done = gitopsRender(repo: cfg.sotDir, deployment: id, out: dir, propagate: false)
        if (done.code in [0, 4]) {
            lock(resource: lockName(id)) {
                done = gitopsPlan(repo: cfg.sotDir, dir: dir, vault: rc.vault, propagate: false)
            }
            archiveArtifacts(artifacts: "${dir}/plan.md,${dir}/plan.policy.json", allowEmptyArchive: true)
            result.change = done.json?.change_summary
            result.status = done.code == 4 ? 'changes planned' : (done.code == 0 ? 'no changes' : done.status)
        } else {
            result.status = done.status
        }
        reviewInput(rc, result, done)
    }
}

// The destroy plan of a deleted request (gitops-destroy --plan-only: no confirmation, no
// approval, nothing destroyed), under the deployment's lock.
def reviewDestroyOne(Map cfg, Map rc, Map result) {
    String id = result.deployment
    String out = "${cfg.out}/${id}"
    stage("Plan destroy ${id}") {
        dir(out) {
            deleteDir()
        }
        Map done = null
        lock(resource: lockName(id)) {
            done = gitopsDestroy(repo: cfg.sotDir, deployment: id, planOnly: true, out: out, vault: rc.vault, propagate: false)
        }
        archiveArtifacts(artifacts: "${out}/plan.md,${out}/plan.policy.json", allowEmptyArchive: true)
        result.change = done.json?.change_summary
        result.status = done.code == 4 ? 'destroy planned' : (done.code == 0 ? 'nothing to destroy' : done.status)
        reviewInput(rc, result, done)
    }
}

// The deployment's input of the review, stashed for the Review stage: the binary's JSON as it
// printed it (a plan, also one a policy denied), or, when it printed none or its error
// ({"error": ...}), an error entry naming the deployment, the action and the exit code.
def reviewInput(Map rc, Map result, Map done) {
    String file = reviewInputFile(rc, result)
    boolean report = done.json instanceof Map && !done.json.containsKey('error') && fileExists(done.jsonFile as String)
    if (!(done.code in [0, 4])) {
        String message = report ? denials(done.json) : done.json?.error
        result.error = (message ?: "${done.binary}: ${done.status} (exit ${done.code})") as String
    }
    if (report) {
        writeFile(file: file, text: readFile(file: done.jsonFile as String))
    } else {
        writeFile(file: file, text: errorEntry(result, done.code as int))
    }
    String name = 'gitops-review-' + result.action + '-' + result.deployment.replace('/', '-')
    stash(name: name, includes: file)
    result.reviewStash = name
}

// "denied by policy: <policy>: <message>; ..." of a plan a policy denied, or null.
String denials(Object json) {
    List found = []
    for (Object d : (json?.policy?.denials ?: [])) {
        found << ("${d.policy}: " + (d.resource ? "${d.resource}: " : '') + "${d.message}" as String)
    }
    return found ? 'denied by policy: ' + found.take(3).join('; ') + (found.size() > 3 ? "; and ${found.size() - 3} more" : '') : null
}

String reviewInputFile(Map rc, Map result) {
    return "${rc.inputDir}/${result.deployment}/${result.action}.json"
}

String errorEntry(Map result, int code) {
    return groovy.json.JsonOutput.toJson([deployment: result.deployment as String, action: result.action as String,
                                          error: (result.error ?: result.status) as String, exit_code: code])
}

// On one agent: every lane's input unstashed into rc.inputDir (an error entry for a deployment
// whose lane never ran it), gitops-review (recording the review on HEAD), review.* archived.
def summarizeReview(Map cfg, Map rc, List results, String base) {
    return onAgent(cfg) { Map scmVars ->
        stage('Review') {
            dir(rc.inputDir as String) {
                deleteDir()
            }
            writeFile(file: "${rc.inputDir}/README.txt", text: 'The inputs of gitops-review: one JSON file per deployment and action.\n')
            for (Map r : results) {
                if (r.reviewStash) {
                    unstash(r.reviewStash as String)
                } else {
                    // Its lane failed before the deployment's turn (agent, checkout, install).
                    r.status = 'failed'
                    writeFile(file: reviewInputFile(rc, r), text: errorEntry(r, 1))
                }
            }
            String url = env.BUILD_URL ? "${env.BUILD_URL}artifact/${rc.dir}/review.md" : null
            Map reviewed = gitopsReview(repo: cfg.sotDir, from: rc.inputDir, out: rc.dir, base: base, change: env.CHANGE_ID,
                                        target: rc.target, artifactUrl: url, record: rc.record, propagate: false)
            archiveArtifacts(artifacts: "${rc.dir}/review.*", allowEmptyArchive: true)
            return reviewed
        }
    }
}

// The check (Checks API plugin) and, with review: [comment: true], a comment on the pull request;
// the build description; the build fails on a FAILURE conclusion (or a failed gitops-review).
def publishReview(Map rc, Map reviewed, List results) {
    String conclusion = reviewed.conclusion as String
    String title = reviewed.title as String
    String summary = reviewed.summary as String
    String text = (reviewed.text ?: '') as String
    // What a failed build says: the review's title (its summary is in the check and the log).
    String reason = title ?: summary
    if (reviewed.code != 0 || !conclusion) {
        conclusion = 'FAILURE'
        title = 'gitops: the review failed'
        summary = "gitops-review: ${reviewed.status} (exit ${reviewed.code})" + (reviewed.error ? ": ${reviewed.error}" : '') + '; see the build log'
        text = ''
        reason = summary
    }
    if (rc.checks) {
        Map check = [name: rc.checksName as String, title: title, summary: summary, text: text, conclusion: conclusion]
        if (env.BUILD_URL) {
            check.detailsURL = env.BUILD_URL as String
        }
        publishChecks(check)
    }
    if (rc.comment && env.CHANGE_ID) {
        pullRequest.comment(text ?: summary)
    }
    int n = results.size()
    currentBuild.description = "review of ${rc.what}: ${n} deployment${n == 1 ? '' : 's'}, conclusion ${conclusion}"
    List lines = []
    for (Map r : results) {
        lines << "${r.deployment} (${r.action}): ${r.status}" + (r.change ? " - plan: ${r.change}" : '') + (r.error ? " - ${r.error}" : '')
    }
    echo "gitops: review of ${rc.what}: ${conclusion}" + (reviewed.record ? ", recorded as ${reviewed.record}" : '') + '\n  ' +
        (lines ? lines.join('\n  ') : 'no deployment affected') + (summary ? '\n' + summary : '')
    if (conclusion == 'FAILURE') {
        error("gitopsPipeline: review of ${rc.what}: FAILURE: ${reason}")
    }
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
        String reviewed = reviewPhrase(r)
        return "Apply ${r.deployment}? ${r.change ?: 'See the plan'}. It is in a protected environment; the plan is archived as ${cfg.out}/${r.deployment}/plan.md." +
            (reviewed ? " Review: ${reviewed}." : '')
    }
    List lines = []
    for (Map r : waiting) {
        String reviewed = reviewPhrase(r)
        lines << "- ${r.deployment}: ${r.change ?: 'see the plan'} (${cfg.out}/${r.deployment}/plan.md)" + (reviewed ? "; ${reviewed}" : '')
    }
    return "Apply ${waiting.size()} deployments of wave ${n}? They are in protected environments; the plans are archived:\n" + lines.join('\n')
}

// How the plan compares with the review of the change that brought it (gitops-plan's review:
// the record of HEAD, or of HEAD's second parent for a merge commit), in plain values.
def reviewStatus(Map result, Object json) {
    if (!json?.review?.status) {
        return
    }
    result.review = json.review.status as String
    result.reviewRecord = json.review.record ? json.review.record as String : null
    result.reviewDifferences = plainList(json.review.differences)
}

// For the approval: "as reviewed (review/<sha>/<n>)", "changed since review: <differences>",
// "not reviewed"; null when the plan did not say.
String reviewPhrase(Map r) {
    if (!r.review) {
        return null
    }
    if (r.review == 'as reviewed') {
        return r.reviewRecord ? "as reviewed (${r.reviewRecord})" : 'as reviewed'
    }
    if (r.review == 'changed since review') {
        List diffs = r.reviewDifferences ?: []
        String shown = diffs.take(10).join('; ') + (diffs.size() > 10 ? "; and ${diffs.size() - 10} more" : '')
        return 'changed since review' + (shown ? ": ${shown}" : '')
    }
    return r.review as String
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
        reviewStatus(result, planned.json)
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
        lines << "${r.deployment}: ${r.status}" + (r.approvedBy ? " (approved by ${r.approvedBy})" : '') + (r.change ? " - plan: ${r.change}" : '') +
            (r.review ? " - review: ${r.review}" : '')
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
