import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.junit.Test

/**
 * gitopsReview (the step) and gitopsPipeline's change-request mode with fake binaries: the plans
 * of a pull request, nothing applied, the review published as a check.
 */
class GitopsReviewTest extends HarnessTestBase {
    static final String BUILD_URL = 'https://jenkins.example.com/job/gitops/job/PR-12/1/'
    static final String PLAN_WEB = JsonOutput.toJson([deployment: 'dev/web', changes: true, change_summary: '0 to add, 1 to change, 0 to destroy, 0 to replace',
                                                      fingerprint: [digest: 'f1', resources: [[address: 'terraform_data.x', action: 'update', digest: 'd1']], tag_only: 3],
                                                      exit_code: 4])
    static final String PLAN_API = JsonOutput.toJson([deployment: 'prod/api', changes: true, change_summary: '1 to add, 0 to change, 0 to destroy, 0 to replace',
                                                      fingerprint: [digest: 'f2', resources: [], tag_only: 0], exit_code: 4])
    static final String DESTROY_OLD = JsonOutput.toJson([deployment: 'dev/old', destroy: true, changes: true,
                                                         change_summary: '0 to add, 0 to change, 9 to destroy, 0 to replace', exit_code: 4])

    Map cfg = [approvers: 'alice']
    File origin
    String base
    String head

    /** The review gitops-review prints. */
    static String reviewJson(String conclusion, Map extra = [:]) {
        return JsonOutput.toJson([conclusion: conclusion, title: "gitops: ${conclusion}", summary: "3 deployments: ${conclusion.toLowerCase()}",
                                  text: '| deployment | plan |\n|---|---|\n| dev/web | 1 to change |',
                                  files: [markdown: 'gitops-review/review.md', html: 'gitops-review/review.html', json: 'gitops-review/review.json'],
                                  record: 'review/abc123/1', rows: [[deployment: 'dev/web']], exit_code: 0] + extra)
    }

    /**
     * A source-of-truth origin: main, a pull-request branch off it (the head the build checks
     * out), and main moved on since, so the merge base is the branch point.
     */
    void setUpChange(Map listed, boolean changeRequest = true) {
        cfg.install = [binDir: fake.dir.path]
        File seed = new File(tmp, 'seed')
        seed.mkdirs()
        git(seed, '-c', 'init.defaultBranch=main', 'init', '-q')
        commitFile(seed, 'gitops.toml', '# settings\n', 'settings')
        base = git(seed, 'rev-parse', 'HEAD')
        git(seed, 'checkout', '-q', '-b', 'feature-12')
        commitFile(seed, 'deployments/dev/web.toml', 'component = "web-service"\n', 'the change')
        head = git(seed, 'rev-parse', 'HEAD')
        git(seed, 'checkout', '-q', 'main')
        commitFile(seed, 'deployments/dev/other.toml', 'component = "web-service"\n', 'main moves on')
        origin = new File(tmp, 'origin.git')
        git(tmp, 'clone', '-q', '--bare', seed.path, origin.path)
        h.checkoutHandler = { Object scm, File dir ->
            if (!new File(dir, '.git').exists()) {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            git(dir, 'checkout', '-q', '--detach', head)
            [GIT_COMMIT: head, GIT_BRANCH: 'PR-12']
        }
        if (changeRequest) {
            h.changeRequest('12', 'main', 'feature-12', BUILD_URL)
        }
        fake.enqueue('gitops-render', 0, JsonOutput.toJson(listed))
    }

    void renders(String id, boolean prot = false) {
        fake.answerFor('gitops-render', id, 0, JsonOutput.toJson([deployment: id, manifest: [protected: prot]]))
    }

    List runPipeline(Map extra = [:]) {
        return (List) h.call('gitopsPipeline', cfg + extra)
    }

    /** The input files gitops-review read: path under its --from -> parsed JSON. */
    Map reviewInputs() {
        Map call = fake.calls('gitops-review')[0]
        File from = new File(call.cwd, call.argv.find { it.startsWith('--from=') } - '--from=')
        Map out = [:]
        from.eachFileRecurse { File f ->
            if (f.name.endsWith('.json')) {
                out[from.toPath().relativize(f.toPath()).toString()] = new JsonSlurper().parse(f)
            }
        }
        return out
    }

    // ---------------------------------------------------------------------------------------------
    // gitopsPipeline, change-request mode

    @Test
    void aPullRequestIsPlannedAndReviewedAndNothingIsAppliedTaggedOrApproved() {
        setUpChange([render: ['dev/web': ['rendered root module differs from abc123abc123'], 'prod/api': ['new request']],
                     waves: [['dev/web', 'prod/api']], needs: [:], destroy: ['dev/old']])
        renders('dev/web')
        renders('prod/api', true)
        fake.answerFor('gitops-plan', 'build/dev/web', 4, PLAN_WEB)
        fake.answerFor('gitops-plan', 'build/prod/api', 4, PLAN_API)
        fake.answerFor('gitops-destroy', 'dev/old', 4, DESTROY_OLD)
        fake.answer('gitops-review', 0, reviewJson('ACTION_REQUIRED'))
        List results = runPipeline()

        assert argv('gitops-render', 0) == ['--repo=sot', "--changed-since=${base}".toString(), '--by-render', '--list', '--json', '--']
        assert fake.calls()*.bin.sort() == ['gitops-destroy', 'gitops-plan', 'gitops-plan', 'gitops-render', 'gitops-render', 'gitops-render', 'gitops-review']
        assert fake.calls('gitops-apply') == [] && fake.calls('gitops-tag') == [] && fake.calls('gitops-report') == []
        assert h.inputs == [] && h.callsTo('input') == []
        assert argv('gitops-destroy') == ['--repo=sot', '--plan-only', '--out=build/dev/old', '--json', '--', 'dev/old']
        assert argv('gitops-review') == ['--repo=sot', '--from=.gitops/review', '--out=gitops-review', "--base=${base}".toString(),
                                         '--change=12', '--target=main', "--artifact-url=${BUILD_URL}artifact/gitops-review/review.md".toString(),
                                         '--record', '--json']
        // each lane's JSON, as the binary printed it, one file per deployment and action
        assert reviewInputs() == ['dev/web/deploy.json': new JsonSlurper().parseText(PLAN_WEB),
                                  'prod/api/deploy.json': new JsonSlurper().parseText(PLAN_API),
                                  'dev/old/destroy.json': new JsonSlurper().parseText(DESTROY_OLD)]
        assert h.callsTo('stash')*.args*.getAt(0)*.name.sort() == ['gitops-review-deploy-dev-web', 'gitops-review-deploy-prod-api', 'gitops-review-destroy-dev-old']
        // one lock per deployment, around its plan only: no wave-wide lock
        assert h.locks.sort() == ['gitops-dev-old', 'gitops-dev-web', 'gitops-prod-api']
        assert h.callsTo('lock').every { it.args[0].extra == null }
        assert h.parallels*.branches == [['lane 1', 'lane 2']]
        assert h.checks == [[name: 'gitops', title: 'gitops: ACTION_REQUIRED', summary: '3 deployments: action_required',
                             text: '| deployment | plan |\n|---|---|\n| dev/web | 1 to change |', conclusion: 'ACTION_REQUIRED', detailsURL: BUILD_URL]]
        assert h.prComments == []
        assert h.archived*.artifacts.contains('gitops-review/review.*')
        assert h.currentBuild.description == 'review of PR 12: 3 deployments, conclusion ACTION_REQUIRED'
        assert h.currentBuild.result == null
        assert results*.status == ['changes planned', 'changes planned', 'destroy planned']
        assert results*.action == ['deploy', 'deploy', 'destroy']
        assert h.stages.containsAll(['Changes', 'Plan dev/web', 'Plan prod/api', 'Plan destroy dev/old', 'Review'])
        assert !h.stages.any { it.startsWith('Apply') || it == 'Approval' || it == 'Report' }
        // a pull request's job gets no nightly drift trigger
        assert h.properties[2].triggers == []
        assert h.logText().contains('recorded as review/abc123/1')
    }

    @Test
    void theCommentIsPostedOnlyWhenEnabled() {
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []])
        renders('dev/web')
        fake.answer('gitops-plan', 4, PLAN_WEB)
        fake.answer('gitops-review', 0, reviewJson('SUCCESS'))
        runPipeline(review: [comment: true, checksName: 'gitops/review'])
        assert h.prComments == ['| deployment | plan |\n|---|---|\n| dev/web | 1 to change |']
        assert h.checks*.name == ['gitops/review'] && h.checks[0].conclusion == 'SUCCESS'
        assert h.currentBuild.description == 'review of PR 12: 1 deployment, conclusion SUCCESS'

        setUpHarness()
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []])
        renders('dev/web')
        fake.answer('gitops-plan', 4, PLAN_WEB)
        fake.answer('gitops-review', 0, reviewJson('SUCCESS'))
        runPipeline()
        assert h.prComments == [] && h.checks.size() == 1
    }

    @Test
    void aFailureConclusionFailsTheBuildAfterTheCheckIsPublished() {
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []])
        renders('dev/web')
        fake.answer('gitops-plan', 4, PLAN_WEB)
        fake.answer('gitops-review', 0, reviewJson('FAILURE', [title: '1 deployment, 1 would be refused or failed',
                                                               summary: '**FAILURE**: dev/web: denied by policy no_public_database']))
        def e = aborts { runPipeline(review: [comment: true]) }
        assert e.message == 'gitopsPipeline: review of PR 12: FAILURE: 1 deployment, 1 would be refused or failed'
        assert h.logText().contains('**FAILURE**: dev/web: denied by policy no_public_database')
        assert h.checks*.conclusion == ['FAILURE'] && h.prComments.size() == 1
        assert h.currentBuild.description == 'review of PR 12: 1 deployment, conclusion FAILURE'
        assert h.archived*.artifacts.contains('gitops-review/review.*')
    }

    @Test
    void aFailedPlanOrRenderBecomesAnErrorEntryAndAPolicyDenyKeepsItsReport() {
        setUpChange([render: ['dev/a': ['x'], 'dev/b': ['y'], 'dev/c': ['z']], waves: [['dev/a', 'dev/b', 'dev/c']], needs: [:], destroy: ['dev/old']])
        renders('dev/a')
        renders('dev/b')
        fake.answerFor('gitops-render', 'dev/c', 2, '{"error": "deployments/dev/c.toml: unknown key nope", "exit_code": 2, "status": "invalid"}')
        fake.answerFor('gitops-plan', 'build/dev/a', 1, '{"error": "terraform init failed: no such module", "exit_code": 1, "status": "failed"}')
        String denied = JsonOutput.toJson([deployment: 'dev/b', changes: true, exit_code: 3,
                                           policy: [denials: [[policy: 'no_public_database', resource: 'terraform_data.db', message: 'public']]]])
        fake.answerFor('gitops-plan', 'build/dev/b', 3, denied)
        // a binary that died without printing anything
        fake.answerFor('gitops-destroy', 'dev/old', 1, '')
        fake.answer('gitops-review', 0, reviewJson('FAILURE'))
        aborts { runPipeline(maxParallel: 1) }
        Map inputs = reviewInputs()
        assert inputs['dev/a/deploy.json'] == [deployment: 'dev/a', action: 'deploy', error: 'terraform init failed: no such module', exit_code: 1]
        assert inputs['dev/b/deploy.json'] == new JsonSlurper().parseText(denied)
        assert inputs['dev/c/deploy.json'] == [deployment: 'dev/c', action: 'deploy', error: 'deployments/dev/c.toml: unknown key nope', exit_code: 2]
        assert inputs['dev/old/destroy.json'] == [deployment: 'dev/old', action: 'destroy', error: 'gitops-destroy: failed (exit 1)', exit_code: 1]
        // the broken render is not planned; the review ran with all four
        assert fake.calls('gitops-plan')*.argv*.getAt(-1) == ['build/dev/a', 'build/dev/b']
        assert fake.calls('gitops-review').size() == 1 && h.checks*.conclusion == ['FAILURE']
        assert h.currentBuild.description == 'review of PR 12: 4 deployments, conclusion FAILURE'
        assert h.logText().contains('dev/b (deploy): refused - denied by policy: no_public_database: terraform_data.db: public')
        assert h.logText().contains('dev/old (destroy): failed - gitops-destroy: failed (exit 1)')
    }

    @Test
    void aLaneThatCannotRunItsDeploymentStillGivesTheReviewAnErrorEntry() {
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []])
        renders('dev/web')
        fake.answer('gitops-review', 0, reviewJson('FAILURE'))
        // the plan-only Vault credential does not exist: the plan step fails before its binary
        aborts { runPipeline(review: [vault: [credentialsId: 'gitops-vault-plan']]) }
        assert fake.calls('gitops-plan') == []
        Map entry = reviewInputs()['dev/web/deploy.json']
        assert entry.deployment == 'dev/web' && entry.action == 'deploy' && entry.exit_code == 1
        assert entry.error.contains("Could not find credentials entry with ID 'gitops-vault-plan'")
    }

    @Test
    void thePlansUseThePlanOnlyVaultLoginAndTheDependentsAreNotSkipped() {
        h.credentials['gitops-vault-plan'] = [username: 'plan-role', password: 'plan-secret']
        setUpChange([render: ['dev/db': ['request changed'], 'dev/api': ['depends on dev/db, which is affected']],
                     waves: [['dev/db'], ['dev/api']], needs: ['dev/api': ['dev/db']], destroy: ['dev/old']])
        renders('dev/db')
        renders('dev/api')
        fake.answerFor('gitops-plan', 'build/dev/db', 1, '{"error": "boom", "exit_code": 1, "status": "failed"}')
        fake.answerFor('gitops-plan', 'build/dev/api', 4, PLAN_WEB)
        fake.answer('gitops-destroy', 4, DESTROY_OLD)
        fake.answer('gitops-review', 0, reviewJson('FAILURE'))
        aborts { runPipeline(review: [vault: [credentialsId: 'gitops-vault-plan']]) }
        assert fake.calls('gitops-plan')*.argv*.getAt(-1) == ['build/dev/db', 'build/dev/api']
        (fake.calls('gitops-plan') + fake.calls('gitops-destroy')).each { Map c ->
            assert c.env.VAULT_ROLE_ID == 'plan-role' && c.env.VAULT_SECRET_ID == 'plan-secret'
        }
        assert !fake.calls('gitops-review')[0].env.containsKey('VAULT_SECRET_ID')
        assert !h.logText().contains('plan-secret')
        assert h.logText().contains('gitops: wave 1 of 2 (plans only): dev/db') && h.logText().contains('gitops: wave 2 of 2 (plans only): dev/api')
    }

    @Test
    void modeReviewForcesTheReviewOutsideAPullRequestWithoutACommentOrALink() {
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []], false)
        renders('dev/web')
        fake.answer('gitops-plan', 0, PLAN_WEB)
        fake.answer('gitops-review', 0, reviewJson('SUCCESS'))
        List results = runPipeline(mode: 'review', review: [comment: true, target: 'main'])
        assert results*.status == ['no changes']
        assert argv('gitops-review') == ['--repo=sot', '--from=.gitops/review', '--out=gitops-review', "--base=${base}".toString(),
                                         '--target=main', '--record', '--json']
        assert h.prComments == [] && !h.checks[0].containsKey('detailsURL')
        assert h.currentBuild.description == 'review of HEAD into main: 1 deployment, conclusion SUCCESS'
    }

    @Test
    void nothingAffectedIsStillReviewedSoTheCheckIsThere() {
        setUpChange([render: [:], waves: [], needs: [:], destroy: []])
        fake.answer('gitops-review', 0, reviewJson('SUCCESS', [summary: 'no deployment affected', record: null]))
        assert runPipeline() == []
        assert fake.calls()*.bin == ['gitops-render', 'gitops-review']
        assert reviewInputs() == [:]
        assert h.checks*.conclusion == ['SUCCESS']
        assert h.currentBuild.description == 'review of PR 12: 0 deployments, conclusion SUCCESS'
    }

    @Test
    void aFailedReviewBinaryPublishesAFailedCheckAndFailsTheBuild() {
        setUpChange([render: ['dev/web': ['x']], waves: [['dev/web']], needs: [:], destroy: []])
        renders('dev/web')
        fake.answer('gitops-plan', 4, PLAN_WEB)
        fake.answer('gitops-review', 2, '{"error": "dev/web/deploy.json: not a plan", "exit_code": 2, "status": "invalid"}')
        def e = aborts { runPipeline() }
        assert e.message.contains('gitops-review: invalid (exit 2): dev/web/deploy.json: not a plan')
        assert h.checks*.conclusion == ['FAILURE'] && h.checks[0].title == 'gitops: the review failed'
    }

    @Test
    void theTargetBranchIsAValueNeverShellText() {
        setUpChange([render: [:], waves: [], needs: [:], destroy: []])
        h.baseEnv.CHANGE_TARGET = EVIL
        assert aborts { runPipeline() }.message.contains('script returned exit code')
        assert fake.calls() == []
        assertNothingExecuted()
    }

    @Test
    void anOldCopyOfTheTargetIsUsedWhenItCannotBeFetched() {
        setUpChange([render: [:], waves: [], needs: [:], destroy: []])
        fake.answer('gitops-review', 0, reviewJson('SUCCESS'))
        Closure clone = h.checkoutHandler
        h.checkoutHandler = { Object scm, File dir ->
            Map vars = clone(scm, dir)
            git(dir, 'remote', 'set-url', 'origin', new File(tmp, 'gone.git').path)
            vars
        }
        runPipeline()
        assert argv('gitops-render', 0)[1] == "--changed-since=${base}".toString()
        assert h.logText().contains('using refs/remotes/origin/main as checked out')
    }

    // ---------------------------------------------------------------------------------------------
    // gitopsReview, the step

    @Test
    void theStepRunsTheBinaryWithEveryOptionAndReturnsPlainValues() {
        fake.answer('gitops-review', 0, reviewJson('ACTION_REQUIRED'))
        Map r = step('gitopsReview', [repo: 'sot', from: 'in', out: 'out', base: 'b4se', change: '12', target: 'main',
                                      artifactUrl: 'https://j/artifact/out/review.md', record: true])
        assert argv('gitops-review') == ['--repo=sot', '--from=in', '--out=out', '--base=b4se', '--change=12', '--target=main',
                                         '--artifact-url=https://j/artifact/out/review.md', '--record', '--json']
        assert r.code == 0 && r.conclusion == 'ACTION_REQUIRED' && r.record == 'review/abc123/1'
        assert r.files == [markdown: 'gitops-review/review.md', html: 'gitops-review/review.html', json: 'gitops-review/review.json']
        assert [r, r.json, r.files, r.rows[0]]*.getClass().every { it == LinkedHashMap } && r.rows.getClass() == ArrayList
        assert !fake.calls('gitops-review')[0].env.containsKey('VAULT_SECRET_ID')
    }

    @Test
    void theRowsMayComeUnderReview() {
        fake.answer('gitops-review', 0, JsonOutput.toJson([conclusion: 'SUCCESS', title: 't', summary: 's', text: 'x', record: null,
                                                           review: [rows: [[deployment: 'dev/web', action: 'deploy']]]]))
        Map r = step('gitopsReview', [from: 'in', out: 'out'])
        assert r.rows == [[deployment: 'dev/web', action: 'deploy']] && r.record == null && r.files == [:]
    }

    @Test
    void theStepNeedsFromAndOutAndPropagatesFailures() {
        assert aborts { step('gitopsReview', [from: 'in']) }.message.contains('from (the directory of the plans) and out')
        assert fake.calls() == []
        fake.answer('gitops-review', 2, '{"error": "in/x.json: not a plan", "exit_code": 2, "status": "invalid"}')
        assert aborts { step('gitopsReview', [from: 'in', out: 'out']) }.message.contains('gitops-review: invalid input (exit 2)')
        Map r = step('gitopsReview', [from: 'in', out: 'out', propagate: false])
        assert r.code == 2 && r.status == 'invalid' && r.error == 'in/x.json: not a plan' && r.conclusion == null
        assert argv('gitops-review', 1) == ['--repo=.', '--from=in', '--out=out', '--json']
    }

    @Test
    void theStepsValuesAreData() {
        step('gitopsReview', [repo: EVIL, from: EVIL, out: EVIL, base: EVIL, change: EVIL, target: EVIL, artifactUrl: EVIL])
        List<String> options = ['--repo=', '--from=', '--out=', '--base=', '--change=', '--target=', '--artifact-url=']
        assert argv('gitops-review') == options.collect { it + EVIL } + ['--json']
        assertNothingExecuted()
    }

    // ---------------------------------------------------------------------------------------------

    static void commitFile(File repo, String path, String text, String message) {
        File f = new File(repo, path)
        f.parentFile.mkdirs()
        f.text = text
        git(repo, 'add', '--', path)
        git(repo, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.com', 'commit', '-q', '-m', message)
    }

    static String git(File dir, String... args) {
        dir.mkdirs()
        Process p = (['git'] + args.toList()).execute(['GIT_CONFIG_GLOBAL=/dev/null', 'GIT_CONFIG_NOSYSTEM=1', "PATH=${System.getenv('PATH')}",
                                                       "HOME=${dir.path}"], dir)
        String out = p.inputStream.text
        String err = p.errorStream.text
        assert p.waitFor() == 0: "git ${args.toList()} in ${dir}: ${err}"
        return out.trim()
    }
}
