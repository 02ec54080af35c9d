import groovy.json.JsonOutput
import groovy.json.JsonSlurper

/**
 * Review before merge: gitopsPipeline in change-request mode (multibranch pull-request builds:
 * CHANGE_ID, CHANGE_TARGET) and the branch builds after the merges, with the real binaries, real
 * Terraform, real git and Vault (PipelineScenario's set-up and deploy builds):
 *
 *   0. set-up     + environments/secure.toml (protected, outside the promotion order) and the
 *                 certify job certifies web-service 1.0.0 (a protected environment needs it)
 *   1. provision  dev/shop-web and secure/shop-web on main          -> applied; "not reviewed"
 *   2. PR 1       dev/shop-web logs at debug                        -> one plan row, SUCCESS,
 *                 recorded as review/<head>/1; state and deploy tags unchanged
 *   3. merge      PR 1 merged with --no-ff (HEAD^2 = the reviewed head) -> applied "as reviewed"
 *   4. PR 2       deletes dev/shop-web, adds dev/shop-db with a public database
 *                 -> a destroy plan (nothing destroyed) and a policy deny: FAILURE, build failed
 *   5. PR 3       secure/shop-web scales to 3 instances             -> ACTION_REQUIRED
 *   6. main       secure/shop-web moves to t3.large, applied first (approval: "not reviewed")
 *   7. merge      PR 3 merged: the third instance is now a t3.large -> "changed since review",
 *                 the approval names the difference
 *
 * Eight runs (the certify job, four branch builds, three pull-request builds); each runs real
 * Terraform. Used by tests/groovy/e2e/PipelineE2ETest.groovy and tests/groovy/demo.groovy.
 */
class ReviewScenario extends PipelineScenario {
    static final List<String> REVIEW_BINARIES = ['gitops-review', 'gitops-certify']
    static final String WEB = 'dev/shop-web'
    static final String SECURE = 'secure/shop-web'
    static final String DB = 'dev/shop-db'

    /** The last pull-request build: its harness, gitops-review's JSON, the published check. */
    PipelineHarness lastReview
    Map review
    Map published

    ReviewScenario(File root, File work, PrintStream story) {
        super(root, work, story)
    }

    /** What the scenario needs that is not built (empty: it can run). */
    static List<String> missing(File root, String binDir = 'target/debug') {
        return PipelineScenario.missing(root, binDir) + REVIEW_BINARIES.findAll { !new File(root, "${binDir}/${it}").canExecute() }
    }

    @Override
    void run() {
        try {
            setUp()
            protectedEnvironment()
            provisionOnMain()
            reviewOneDeployment()
            mergeTheReviewedChange()
            reviewADeletionAndAPolicyDeny()
            reviewAProtectedChange()
            anotherChangeLandsFirst()
            mergeAChangeThatMovedSinceItsReview()
            tell("\nDone: ${builds} pipeline builds; work directory ${work}")
        } finally {
            vault?.destroy()
        }
    }

    /**
     * The part the demo tells (no protected environment, no certification): dev/shop-web
     * provisioned, one change to it reviewed, then merged and applied as reviewed.
     */
    void runShort() {
        try {
            setUp()
            provisionOnMain(false)
            reviewOneDeployment()
            mergeTheReviewedChange()
            tell("\nDone: ${builds} pipeline builds; work directory ${work}")
        } finally {
            vault?.destroy()
        }
    }

    void protectedEnvironment() {
        heading('0b. A protected environment "secure" (outside the promotion order); the certify job certifies web-service 1.0.0')
        File env = new File(dev, 'environments/secure.toml')
        env.text = new File(dev, 'environments/prod.toml').text
            .replace('account = "sandbox-prod"', 'account = "sandbox-secure"')
            .replace('vault_role = "gitops-prod"', 'vault_role = "gitops-secure"')
            .replace('"pagerduty:prod-oncall"', '"pagerduty:secure-oncall"')
            .replace('environment = "prod"', 'environment = "secure"')
        check(env.text.contains('protected = true') && env.text.contains('"sandbox-secure"'), 'environments/secure.toml')
        commit('Add the protected environment secure (audited account, outside the promotion order)', 'environments/secure.toml')
        certify('web-service', '1.0.0')
        lastGood = head()
    }

    /** The certify job (jenkins/certify.Jenkinsfile), as the seed creates it: it commits and tags the record. */
    void certify(String component, String version) {
        PipelineHarness h = harness(new File(work, 'jenkins/certify'), 'certify')
        h.checkoutHandler = { Object scm, File dir ->
            check(scm instanceof Map && scm.userRemoteConfigs[0].url == origin.path, "certify checkout of ${scm}")
            if (!new File(dir, '.git').exists()) {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            git(dir, 'fetch', '-q', '--tags', 'origin')
            git(dir, 'checkout', '-q', '-f', '-B', 'main', 'origin/main')
            [GIT_COMMIT: git(dir, 'rev-parse', 'HEAD')]
        }
        h.params = [COMPONENT: component, VERSION: version, FORCE: false]
        try {
            h.runScript(new File(root, 'jenkins/certify.Jenkinsfile'))
        } catch (Throwable e) {
            tell(h.logText().readLines().takeRight(60).join('\n'))
            throw e
        }
        String record = git(origin, 'show', "main:certifications/${component}/${version}.toml")
        check(record, "no certification record of ${component}@${version} on main")
        tell("   certified ${component}@${version}: ${git(origin, 'log', '-1', '--format=%h %s', 'main')}")
        git(dev, 'pull', '-q', 'origin', 'main')
    }

    void provisionOnMain(boolean secure = true) {
        heading("1. Provision dev/shop-web${secure ? ' and secure/shop-web' : ''}, pushed to main (no pull request)")
        writeWeb('info')
        if (secure) {
            writeSecure(2, 't3.medium')
        }
        commit("Deploy shop-web to dev${secure ? ' and secure' : ''}", 'deployments')
        Map results = byId(build())
        Map expected = secure ? [(WEB): 'applied and tagged', (SECURE): 'applied and tagged'] : [(WEB): 'applied and tagged']
        check(results == expected, "results ${results}")
        if (secure) {
            String message = approvalOf(SECURE)
            check(message.contains('Review: not reviewed'), "the approval of ${SECURE} does not say 'not reviewed': ${message}")
        }
        check(descriptionLine(WEB).endsWith(' - review: not reviewed'), lastBuild.currentBuild.description)
    }

    void reviewOneDeployment() {
        heading('2. PR 1: dev/shop-web logs at debug -> planned and reviewed, nothing applied')
        openChange('dev-debug', 'dev/shop-web: debug logging') {
            writeWeb('debug')
        }
        reviewBuild(1, 'dev-debug')
        check(published.conclusion == 'SUCCESS', "conclusion ${published.conclusion}: ${published.summary}")
        check(rows().size() == 1 && rows()[0].deployment == WEB && rows()[0].action == 'deploy' && rows()[0].status == 'changes',
              "rows ${rows()}")
        check(reviewFile().contains(WEB), 'review.json does not mention dev/shop-web')
        checkRecorded('dev-debug')
    }

    void mergeTheReviewedChange() {
        heading('3. PR 1 is merged (--no-ff: HEAD^2 is the reviewed head); the branch build applies it as reviewed')
        merge('dev-debug', 'Merge PR 1: dev/shop-web debug logging')
        Map results = byId(build())
        check(results == [(WEB): 'applied and tagged'], "results ${results}")
        String line = descriptionLine(WEB)
        check(line.endsWith(' - review: as reviewed'), "not applied as reviewed: ${line}")
        checkLogLevel(WEB, 'debug')
    }

    void reviewADeletionAndAPolicyDeny() {
        heading('4. PR 2: deletes dev/shop-web and adds dev/shop-db with a public database')
        openChange('cleanup', 'Remove dev/shop-web; add dev/shop-db (public)') {
            git(dev, 'rm', '-q', '--', "deployments/${WEB}.toml")
            write(DB, '''# The shop's database, reachable from the internet (the policy refuses it).
component = "data-store"
package = "1.0.0"
profile = "internal-tooling"

[overrides.database]
publicly_accessible = true

[app_config]
DB_NAME = "shop"
''')
        }
        reviewBuild(2, 'cleanup', true)
        check(published.conclusion == 'FAILURE', "conclusion ${published.conclusion}: ${published.summary}")
        check(rows().size() == 2, "rows ${rows()}")
        check(rows().any { it.deployment == WEB && it.action == 'destroy' && it.status == 'changes' }, "no destroy plan of ${WEB}: ${rows()}")
        check(rows().any { it.deployment == DB && it.status == 'denied' && JsonOutput.toJson(it.denials).contains('public') },
              "${DB} is not denied as a public database: ${rows()}")
        check(lastReview.shCalls.any { it.label == 'gitops-destroy' && it.env.GITOPS_ARG_PLAN_ONLY == '1' }, 'no gitops-destroy --plan-only')
        check(lastReview.currentBuild.description == 'review of PR 2: 2 deployments, conclusion FAILURE', lastReview.currentBuild.description)
        checkState(WEB, true)
    }

    void reviewAProtectedChange() {
        heading('5. PR 3: secure/shop-web scales to 3 instances (a protected environment)')
        openChange('secure-capacity', 'secure/shop-web: three instances') {
            writeSecure(3, 't3.medium')
        }
        reviewBuild(3, 'secure-capacity')
        check(published.conclusion == 'ACTION_REQUIRED', "conclusion ${published.conclusion}: ${published.summary}")
        check(rows().size() == 1 && rows()[0].deployment == SECURE && rows()[0].needs_approval == true, "rows ${rows()}")
        checkRecorded('secure-capacity')
    }

    void anotherChangeLandsFirst() {
        heading('6. Meanwhile main moves secure/shop-web to t3.large; applied first (approval)')
        writeSecure(2, 't3.large')
        commit('secure/shop-web: t3.large instances', 'deployments')
        Map results = byId(build())
        check(results == [(SECURE): 'applied and tagged'], "results ${results}")
        check(approvalOf(SECURE).contains('Review: not reviewed'), approvalOf(SECURE))
    }

    void mergeAChangeThatMovedSinceItsReview() {
        heading('7. PR 3 is merged: its third instance is a t3.large now, which nobody reviewed')
        merge('secure-capacity', 'Merge PR 3: secure/shop-web three instances')
        check(git(origin, 'show', "main:deployments/${SECURE}.toml").contains('desired_capacity = 3'), 'the merge lost the capacity')
        Map results = byId(build())
        check(results == [(SECURE): 'applied and tagged'], "results ${results}")
        String message = approvalOf(SECURE)
        tell("   approval: ${message}")
        check(message.contains('Review: changed since review: '), "the approval does not say 'changed since review': ${message}")
        check(message.contains('instance[2]'), "the approval does not name the third instance: ${message}")
        check(descriptionLine(SECURE).endsWith(' - review: changed since review'), lastBuild.currentBuild.description)
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * One build of the pull-request job PR-<pr> of a multibranch project: the branch source
     * sets CHANGE_ID, CHANGE_TARGET, CHANGE_BRANCH, BUILD_URL and checks out the head of the
     * pull request. Nothing may be applied, destroyed or tagged (review/ tags apart).
     */
    void reviewBuild(int pr, String branch, boolean failing = false) {
        builds++
        String commit = git(origin, 'rev-parse', "refs/heads/${branch}")
        tell("   build #${builds}: PR-${pr} (${branch} at ${commit[0..7]}) into main")
        File ws = new File(work, "jenkins/PR-${pr}")
        PipelineHarness h = harness(ws, "PR-${pr}-${builds}")
        String url = "https://jenkins.example.com/job/gitops/job/PR-${pr}/${builds}/"
        h.changeRequest("${pr}", 'main', branch, url)
        h.checkoutHandler = { Object scm, File dir ->
            if (!new File(dir, '.git').exists()) {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            git(dir, 'fetch', '-q', '--tags', 'origin')
            git(dir, 'checkout', '-q', '-f', '--detach', commit)
            [GIT_COMMIT: commit, GIT_BRANCH: "PR-${pr}".toString()]
        }
        File jenkinsfile = new File(work, 'Jenkinsfile.review')
        jenkinsfile.text = git(origin, 'show', "${commit}:Jenkinsfile")
        Map<String, String> states = stateDigests()
        List<String> tags = deployTags()
        try {
            h.runScript(jenkinsfile)
            check(!failing, 'the review build succeeded, but its conclusion was to be FAILURE')
        } catch (hudson.AbortException e) {
            if (!failing) {
                tell(h.logText().readLines().takeRight(60).join('\n'))
                throw e
            }
            tell("   the build failed, as it should: ${e.message}")
        } catch (Throwable e) {
            tell(h.logText().readLines().takeRight(60).join('\n'))
            throw e
        }
        secrets.each { String s -> check(!h.logText().contains(s), 'a Vault secret reached the build log') }
        lastReview = h
        File out = new File(ws, '.gitops/json/review.json')
        check(out.isFile(), "gitops-review printed nothing (${out})")
        review = (Map) new JsonSlurper().parse(out)
        check(h.checks.size() == 1, "publishChecks calls: ${h.checks}")
        published = h.checks[0]
        tell("   check '${published.name}': ${published.conclusion} - ${published.title}")
        tell("   description: ${h.currentBuild.description}")
        check(published.conclusion == review.conclusion && published.text == review.text, 'the check is not what gitops-review said')
        check(published.detailsURL == url && (published.text as String).length() <= 65535, "check ${published.subMap(['detailsURL'])}")
        check(h.inputs == [], "a review build asked for approval: ${h.inputs}")
        List<String> ran = h.shCalls*.label.findAll { it }.unique()
        check(!ran.any { it in ['gitops-apply', 'gitops-tag', 'gitops-report'] }, "a review build ran ${ran}")
        check(h.archived*.artifacts.contains('gitops-review/review.*'), 'review.* not archived')
        check(['review.md', 'review.html', 'review.json'].every { new File(ws, "gitops-review/${it}").isFile() }, 'review.* missing')
        check(stateDigests() == states, 'a review build changed a state')
        check(deployTags() == tags, "a review build changed the deploy tags: ${tags} -> ${deployTags()}")
    }

    /** The review's rows (gitops-review prints them under review.rows; rows at the top also count). */
    List rows() {
        return (List) (review.rows ?: review.review?.rows ?: [])
    }

    String reviewFile() {
        return new File(lastReview.workspace, 'gitops-review/review.json').text
    }

    /** The review of `branch`'s head is recorded as review/<sha>/<n> in origin. */
    void checkRecorded(String branch) {
        String commit = git(origin, 'rev-parse', "refs/heads/${branch}")
        List<String> tags = git(origin, 'tag', '--list', "review/${commit}/*").readLines().findAll { it }
        tell("   recorded as ${tags.join(', ')}")
        check(tags.size() == 1, "review tags of ${commit}: ${tags}")
        check(review.record == tags[0], "gitops-review says record ${review.record}, origin has ${tags}")
    }

    /** A change request: a branch off main with one commit, pushed to origin. */
    void openChange(String branch, String message, Closure edit) {
        git(dev, 'checkout', '-q', 'main')
        git(dev, 'pull', '-q', 'origin', 'main')
        git(dev, 'checkout', '-q', '-b', branch)
        edit()
        git(dev, 'add', '-A', '--', 'deployments')
        git(dev, '-c', 'user.name=Developer', '-c', 'user.email=developer@example.com', 'commit', '-q', '-m', message)
        git(dev, 'push', '-q', 'origin', "HEAD:refs/heads/${branch}")
        tell("   PR branch ${branch} at ${git(dev, 'rev-parse', '--short', 'HEAD')}: ${message}")
        git(dev, 'checkout', '-q', 'main')
    }

    /** The pull request merged into main with a merge commit (the reviewed head is its second parent). */
    void merge(String branch, String message) {
        git(dev, 'checkout', '-q', 'main')
        git(dev, 'pull', '-q', 'origin', 'main')
        git(dev, 'fetch', '-q', 'origin', branch)
        git(dev, '-c', 'user.name=Platform Team', '-c', 'user.email=platform-team@example.com',
            'merge', '-q', '--no-ff', '-m', message, 'FETCH_HEAD')
        git(dev, 'push', '-q', 'origin', 'HEAD:main')
        tell("   merge ${head()[0..7]} ${message} (second parent ${git(origin, 'rev-parse', '--short', 'main^2')})")
    }

    void writeWeb(String logLevel) {
        write('dev/shop-web', """# The shop front end.
component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = 2

[app_config]
LOG_LEVEL = "${logLevel}"
""")
    }

    /** The capacity and the instance type are lines apart, so one branch can change each and merge cleanly. */
    void writeSecure(int capacity, String instanceType) {
        write('secure/shop-web', """# The shop front end in the audited environment.
component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = ${capacity}
max_size = 4
# The instance size: the team profile's t3.medium until the peak needs more. Kept apart from
# the capacity above: the two change independently.
instance_type = "${instanceType}"

[overrides.load-balancer]
deletion_protection = true           # a protected environment's policy requires it

[app_config]
LOG_LEVEL = "info"
""")
    }

    void write(String id, String text) {
        File f = new File(dev, "deployments/${id}.toml")
        f.parentFile.mkdirs()
        f.text = text
    }

    static Map byId(List results) {
        return results.collectEntries { [(it.deployment): it.status] }
    }

    /** The message of the last branch build's approval that names `id`. */
    String approvalOf(String id) {
        Map input = (Map) lastBuild.inputs.find { (it.message as String).contains(id) }
        check(input, "no approval named ${id}: ${lastBuild.inputs*.message}")
        return input.message as String
    }

    String descriptionLine(String id) {
        String line = lastBuild.currentBuild.description.readLines().find { it.startsWith(id + ': ') }
        check(line, "no result of ${id}: ${lastBuild.currentBuild.description}")
        return line
    }

    /** sha-256 of every state file: a review build must leave each as it was. */
    Map<String, String> stateDigests() {
        Map<String, String> out = [:]
        if (state.isDirectory()) {
            state.eachFileRecurse { File f ->
                if (f.isFile() && f.name.endsWith('.tfstate')) {
                    out[f.path] = java.security.MessageDigest.getInstance('SHA-256').digest(f.bytes).encodeHex().toString()
                }
            }
        }
        return out
    }

    /** Every tag of origin but the review records. */
    List<String> deployTags() {
        return git(origin, 'tag', '--list').readLines().findAll { it && !it.startsWith('review/') }
    }

    /** The deployment's state has resources (`present`) or none. */
    void checkState(String id, boolean present) {
        File f = new File(state, "${id}.tfstate")
        int resources = f.exists() ? ((Map) new JsonSlurper().parse(f)).resources.sum(0) { it.instances.size() } as int : 0
        tell("   state of ${id}: ${resources} resources")
        check(present ? resources > 0 : resources == 0, "${id}: ${resources} resources in the state")
    }

    /** The LOG_LEVEL setting of the deployment's app config, as applied. */
    void checkLogLevel(String id, String level) {
        Map s = (Map) new JsonSlurper().parse(new File(state, "${id}.tfstate"))
        Map r = (Map) s.resources.find { it.module == 'module.app-config' && it.name == 'config_parameter' }
        Map i = (Map) r?.instances?.find { it.index_key == 'LOG_LEVEL' }
        Object input = i?.attributes?.input
        if (input instanceof Map && input.containsKey('type') && input.containsKey('value')) {
            input = input.value
        }
        Object value = input instanceof Map ? input.value : null
        tell("   ${id} LOG_LEVEL = ${value}")
        check(value == level, "${id} LOG_LEVEL is ${value}, expected ${level}")
    }
}
