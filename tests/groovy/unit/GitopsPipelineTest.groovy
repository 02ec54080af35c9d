import org.junit.Test

/** gitopsPipeline with fake binaries: the flow, approvals, locks, branches on exit codes. */
class GitopsPipelineTest extends HarnessTestBase {
    Map cfg = [install: [binDir: null], approvers: 'alice,bob']

    void setUpFlow(Map changes) {
        cfg.install = [binDir: fake.dir.path]
        h.checkoutHandler = { Object scm, File dir -> [GIT_COMMIT: 'c2', GIT_PREVIOUS_SUCCESSFUL_COMMIT: 'c1'] }
        fake.enqueue('gitops-render', 0, groovy.json.JsonOutput.toJson(changes))
    }

    void renders(String id, boolean prot) {
        fake.enqueue('gitops-render', 0, groovy.json.JsonOutput.toJson([deployment: id, manifest: [protected: prot]]))
    }

    List runPipeline(Map extra = [:]) {
        return (List) h.call('gitopsPipeline', cfg + extra)
    }

    @Test
    void anUnprotectedChangeIsRenderedPlannedAppliedAndTaggedUnderItsLock() {
        setUpFlow([render: ['dev/web': ['request changed']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 4, '{"summary": {"add": 2, "change": 0, "destroy": 0}}')
        List results = runPipeline()
        assert fake.calls()*.bin == ['gitops-render', 'gitops-render', 'gitops-plan', 'gitops-apply', 'gitops-tag', 'gitops-report']
        assert argv('gitops-render', 0) == ['--repo=sot', '--changed-since=c1', '--list', '--json', '--']
        assert argv('gitops-render', 1) == ['--repo=sot', '--out=build/dev/web', '--json', '--', 'dev/web']
        assert argv('gitops-apply') == ['--repo=sot', '--json', '--', 'build/dev/web']
        assert argv('gitops-tag') == ['--repo=sot', '--json', '--', 'build/dev/web']
        assert h.locks == ['gitops-dev-web']
        assert h.inputs == []
        assert results*.status == ['applied and tagged']
        assert h.archived*.artifacts == ['build/dev/web/plan.md,build/dev/web/plan.policy.json', 'gitops-report/report.*']
        // Planned and applied in one lane: no stash, one checkout for it (and one for the changes,
        // one for the report).
        assert h.callsTo('stash') == [] && h.callsTo('unstash') == []
        assert h.callsTo('checkout').size() == 3 && h.callsTo('parallel') == []
        assert h.currentBuild.description == 'dev/web: applied and tagged'
        assert h.junits[-1].text.contains('<testcase classname="gitops.deploy" name="dev/web">')
        assert h.properties*.type == ['disableConcurrentBuilds', 'buildDiscarder', 'pipelineTriggers']
        assert h.properties[2].triggers*.spec == ['H 4 * * *']
        assert h.stages == ['Changes', 'Plan dev/web', 'Apply dev/web', 'Report']
        assert h.callsTo('timestamps') && h.callsTo('ansiColor')
    }

    @Test
    void aProtectedEnvironmentWaitsForAnApproverOutsideAnyAgentHoldingTheLock() {
        setUpFlow([render: ['prod/api': ['package changed']], destroy: []])
        renders('prod/api', true)
        String change = '1 to add, 0 to change, 0 to destroy, 0 to replace (and 21 tag-only updates)'
        fake.answer('gitops-plan', 4, "{\"change_summary\": \"${change}\"}")
        h.inputHandler = { Map m -> 'alice' }
        runPipeline()
        assert h.inputs.size() == 1
        Map input = h.inputs[0]
        assert input.submitter == 'alice,bob' && input.submitterParameter == 'APPROVER'
        assert input.message.contains('prod/api') && input.message.contains(change)
        assert input.locksHeld == ['gitops-prod-api']
        assert argv('gitops-apply') == ['--repo=sot', '--approved-by=alice', '--json', '--', 'build/prod/api']
        assert h.callsTo('stash')[0].args[0].name == 'gitops-plan-prod-api' && h.callsTo('unstash').size() == 1
        assert h.currentBuild.description == "prod/api: applied and tagged (approved by alice) - plan: ${change}"
    }

    @Test
    void aRejectedApprovalAppliesNothingAndFailsTheBuild() {
        setUpFlow([render: ['prod/api': ['x']], destroy: []])
        renders('prod/api', true)
        fake.answer('gitops-plan', 4)
        Throwable rejected = PipelineHarness.rejection('mallory')
        h.inputHandler = { Map m -> throw rejected }
        def e = aborts { runPipeline() }
        assert e.message.contains('1 of 1 deployment(s) failed')
        assert fake.calls('gitops-apply') == []
        assert h.currentBuild.description == 'prod/api: rejected'
    }

    @Test
    void aProtectedEnvironmentWithoutApproversIsNeverApplied() {
        setUpFlow([render: ['prod/api': ['x']], destroy: []])
        renders('prod/api', true)
        fake.answer('gitops-plan', 4)
        aborts { runPipeline(approvers: null) }
        assert fake.calls('gitops-apply') == [] && h.inputs == []
        assert h.logText().contains('no approvers are configured') || h.currentBuild.description.contains('failed')
    }

    @Test
    void aRefusedPlanIsReportedAndNotApplied() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 3)
        def e = aborts { runPipeline() }
        assert e.message.contains('dev/web: refused')
        assert fake.calls('gitops-apply') == []
        assert h.junits[-1].text.contains('<failure message="refused">')
    }

    @Test
    void noChangesMeansNoApplyAndNoTag() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 0)
        assert runPipeline()*.status == ['no changes']
        assert fake.calls()*.bin == ['gitops-render', 'gitops-render', 'gitops-plan', 'gitops-report']
    }

    @Test
    void theFleetReportIsPublishedAfterTheDeploysAndBeforeTheResults() {
        setUpFlow([render: ['dev/web': ['x']], destroy: ['dev/old']])
        renders('dev/web', false)
        fake.answer('gitops-plan', 4)
        fake.answer('gitops-report', 0, '{"html": "gitops-report/report.html", "totals": {"deployments": 3, "drifted": 0, "orphans": 1, "at_risk": 0}}')
        h.inputHandler = { Map m -> 'bob' }
        assert runPipeline()*.status == ['applied and tagged', 'destroyed']
        assert fake.calls()*.bin == ['gitops-render', 'gitops-render', 'gitops-plan', 'gitops-apply', 'gitops-tag', 'gitops-destroy', 'gitops-report']
        assert argv('gitops-report') == ['--repo=sot', '--out=gitops-report', '--json']
        assert fake.calls('gitops-report')[0].env.VAULT_SECRET_ID == SECRET
        assert h.htmlReports.size() == 1
        assert h.htmlReports[0].subMap(['reportDir', 'reportFiles', 'reportName', 'keepAll', 'alwaysLinkToLastBuild', 'allowMissing']) ==
            [reportDir: 'gitops-report', reportFiles: 'report.html', reportName: 'Fleet report', keepAll: true, alwaysLinkToLastBuild: true, allowMissing: false]
        assert h.archived*.artifacts.contains('gitops-report/report.*')
        List<String> order = h.calls*.name.findAll { it in ['gitopsDestroy', 'publishHTML', 'junit'] }
        assert order == ['publishHTML', 'junit']
        assert h.stages.indexOf('Report') > h.stages.indexOf('Destroy dev/old')
        assert h.logText().contains('gitops: fleet report gitops-report/report.html: 3 deployments, 0 drifted, 1 orphans, 0 at risk')
        assert h.currentBuild.result == null
    }

    @Test
    void aFailingReportMakesTheBuildUnstableAndTheDeployStands() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 4)
        fake.answer('gitops-report', 1)
        assert runPipeline()*.status == ['applied and tagged']
        assert h.currentBuild.result == 'UNSTABLE'
        assert h.logText().contains('WARNING: gitops: the fleet report failed, the deployments are not affected: gitops-report: failed (exit 1)')
        assert h.htmlReports == [] && !h.archived*.artifacts.contains('gitops-report/report.*')
        assert h.junits[-1].testResults == 'gitops-results.xml'
        assert h.currentBuild.description == 'dev/web: applied and tagged'
    }

    @Test
    void aReportWithoutReportHtmlMakesTheBuildUnstableNotFailed() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 4)
        new File(fake.rec, 'gitops-report.nofiles').text = ''
        assert runPipeline()*.status == ['applied and tagged']
        assert h.currentBuild.result == 'UNSTABLE' && h.callsTo('publishHTML') == []
        assert h.logText().contains('gitops-report wrote no gitops-report/report.html')
    }

    @Test
    void aFailedDeploymentStillGetsTheReportThenFailsTheBuild() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 1)
        assert aborts { runPipeline() }.message.contains('1 of 1 deployment(s) failed')
        assert fake.calls('gitops-report').size() == 1 && h.htmlReports.size() == 1
    }

    @Test
    void reportOptionsAndReportFalse() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 0)
        runPipeline(report: [dir: 'fleet', publish: false])
        assert argv('gitops-report') == ['--repo=sot', '--out=fleet', '--json']
        assert h.htmlReports == [] && h.archived*.artifacts == ['build/dev/web/plan.md,build/dev/web/plan.policy.json', 'fleet/report.*']

        setUpHarness()
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 0)
        runPipeline(report: false)
        assert fake.calls('gitops-report') == [] && !h.stages.contains('Report')
    }

    @Test
    void oneFailureDoesNotStopTheOtherDeployments() {
        setUpFlow([render: ['dev/a': ['x'], 'dev/b': ['y']], destroy: []])
        renders('dev/a', false)
        renders('dev/b', false)
        fake.enqueue('gitops-plan', 1)
        fake.enqueue('gitops-plan', 4)
        def e = aborts { runPipeline() }
        assert e.message.contains('1 of 2 deployment(s) failed')
        assert fake.calls('gitops-apply').size() == 1 && argv('gitops-apply')[-1] == 'build/dev/b'
        assert h.locks == ['gitops-dev-a', 'gitops-dev-b']
    }

    @Test
    void affectedDeploymentsRunInWaveOrderDependenciesFirst() {
        // render is sorted by name (dev/api before dev/db); the waves put the dependency first.
        setUpFlow([render: ['dev/api': ['depends on dev/db, which is affected'], 'dev/db': ['request changed']],
                   waves: [['dev/db'], ['dev/api']], needs: ['dev/api': ['dev/db']], destroy: ['dev/web', 'dev/cache']])
        renders('dev/db', false)
        renders('dev/api', false)
        fake.enqueue('gitops-plan', 4)
        fake.enqueue('gitops-plan', 4)
        h.inputHandler = { Map m -> 'bob' }
        List results = runPipeline()
        assert results*.deployment == ['dev/db', 'dev/api', 'dev/web', 'dev/cache']
        assert fake.calls('gitops-apply')*.argv*.getAt(-1) == ['build/dev/db', 'build/dev/api']
        assert h.locks == ['gitops-dev-db', 'gitops-dev-api', 'gitops-dev-web', 'gitops-dev-cache']
    }

    /** A checkout that returns only when `n` lanes are on their agents at once (or fails after 60 s). */
    void lanesMeetAtCheckout(int n) {
        java.util.concurrent.CountDownLatch together = new java.util.concurrent.CountDownLatch(n)
        int checkouts = 0
        h.checkoutHandler = { Object scm, File dir ->
            synchronized (this) { checkouts++ }
            if (checkouts > 1 && checkouts <= n + 1) { // the first is the Changes stage
                together.countDown()
                assert together.await(60, java.util.concurrent.TimeUnit.SECONDS): "${n} lanes never ran at once"
            }
            [GIT_COMMIT: 'c2', GIT_PREVIOUS_SUCCESSFUL_COMMIT: 'c1']
        }
    }

    @Test
    void aWaveRunsInParallelLanesBoundedByMaxParallelEachWithOneCheckout() {
        List ids = ['dev/a', 'dev/b', 'dev/c', 'dev/d', 'dev/e']
        Map render = [:]
        ids.each { render[it] = ['request changed'] }
        setUpFlow([render: render, waves: [ids], needs: [:], destroy: []])
        lanesMeetAtCheckout(2)
        ids.each { String id ->
            fake.answerFor('gitops-render', id, 0, groovy.json.JsonOutput.toJson([deployment: id, manifest: [protected: false]]))
        }
        fake.answer('gitops-plan', 4, '{"outputs_changed": []}')
        List results = runPipeline(maxParallel: 2)
        assert results*.status == ['applied and tagged'] * 5
        assert h.parallels.size() == 1 && h.parallels[0].branches == ['lane 1', 'lane 2']
        assert h.parallelPeak == 2
        // one lock step for the wave, one checkout per lane (+ changes + report)
        assert h.locks == ids.collect { 'gitops-' + it.replace('/', '-') }
        assert h.callsTo('lock').size() == 1
        assert h.callsTo('checkout').size() == 4
        // lane 1 took a, c, e; lane 2 took b, d: each in the order given
        List applied = fake.calls('gitops-apply')*.argv*.getAt(-1)
        assert applied.sort() == ids.collect { 'build/' + it }
        assert applied.findAll { it in ['build/dev/a', 'build/dev/c', 'build/dev/e'] } == ['build/dev/a', 'build/dev/c', 'build/dev/e']
        // concurrent lanes work in workspaces of their own, as Jenkins gives them
        assert fake.calls('gitops-apply')*.cwd.unique().size() == 2
    }

    @Test
    void aFailedDependencySkipsItsDependentsAndTheOthersGoOn() {
        setUpFlow([render: ['dev/db': ['request changed'], 'dev/web': ['request changed'],
                            'dev/api': ['request changed', 'depends on dev/db, which is affected'],
                            'dev/ui': ['depends on dev/api, which is affected']],
                   waves: [['dev/db', 'dev/web'], ['dev/api'], ['dev/ui']],
                   needs: ['dev/api': ['dev/db'], 'dev/ui': ['dev/api']], destroy: []])
        ['dev/db', 'dev/web'].each { renders(it, false) }
        fake.answerFor('gitops-plan', 'build/dev/db', 1)
        fake.answerFor('gitops-plan', 'build/dev/web', 4)
        def e = aborts { runPipeline() }
        assert h.currentBuild.description.readLines() == [
            'dev/db: failed', 'dev/web: applied and tagged',
            'dev/api: skipped: dependency failed', 'dev/ui: skipped: dependency failed']
        assert h.junits[-1].text.contains('<failure message="skipped: dependency failed">dependency dev/db did not deploy</failure>')
        assert fake.calls('gitops-plan')*.argv*.getAt(-1).sort() == ['build/dev/db', 'build/dev/web']
        assert e.message.contains('3 of 4 deployment(s) failed')
    }

    @Test
    void aDependentIsPlannedAfterItsDependencyOnlyWhenTheDependencysOutputsChanged() {
        Map listed = [render: ['dev/db': ['request changed'], 'dev/api': ['depends on dev/db, which is affected']],
                      waves: [['dev/db'], ['dev/api']], needs: ['dev/api': ['dev/db']], destroy: []]
        setUpFlow(listed)
        renders('dev/db', false)
        fake.answerFor('gitops-plan', 'build/dev/db', 4, '{"outputs_changed": []}')
        List results = runPipeline()
        assert results*.status == ['applied and tagged', 'no changes']
        assert results[1].change == 'dependency outputs unchanged'
        assert fake.calls('gitops-plan')*.argv*.getAt(-1) == ['build/dev/db']

        setUpHarness()
        setUpFlow(listed)
        renders('dev/db', false)
        renders('dev/api', false)
        fake.answerFor('gitops-plan', 'build/dev/db', 4, '{"outputs_changed": ["db_endpoint"]}')
        fake.answerFor('gitops-plan', 'build/dev/api', 4, '{"outputs_changed": []}')
        assert runPipeline()*.status == ['applied and tagged', 'applied and tagged']
        assert fake.calls('gitops-plan')*.argv*.getAt(-1) == ['build/dev/db', 'build/dev/api']
    }

    @Test
    void theProtectedDeploymentsOfAWaveShareOneApprovalRecordedOnEach() {
        setUpFlow([render: ['prod/api': ['x'], 'prod/web': ['x'], 'prod/tools': ['x']],
                   waves: [['prod/api', 'prod/tools', 'prod/web']], needs: [:], destroy: []])
        ['prod/api', 'prod/tools', 'prod/web'].each { String id ->
            fake.answerFor('gitops-render', id, 0, groovy.json.JsonOutput.toJson([deployment: id, manifest: [protected: true]]))
        }
        fake.answerFor('gitops-plan', 'build/prod/api', 4, '{"change_summary": "1 to add"}')
        fake.answerFor('gitops-plan', 'build/prod/web', 4, '{"change_summary": "2 to change"}')
        fake.answerFor('gitops-plan', 'build/prod/tools', 0)
        h.inputHandler = { Map m -> 'alice' }
        List results = runPipeline()
        assert h.inputs.size() == 1
        String message = h.inputs[0].message
        assert message.startsWith('Apply 2 deployments of wave 1?')
        assert message.contains('- prod/api: 1 to add (build/prod/api/plan.md)')
        assert message.contains('- prod/web: 2 to change (build/prod/web/plan.md)')
        assert !message.contains('prod/tools')
        assert h.inputs[0].locksHeld == ['gitops-prod-api', 'gitops-prod-tools', 'gitops-prod-web']
        assert results*.status == ['applied and tagged', 'no changes', 'applied and tagged']
        assert results.findAll { it.approvedBy == 'alice' }*.deployment == ['prod/api', 'prod/web']
        assert fake.calls('gitops-apply')*.argv.every { it.contains('--approved-by=alice') }
        assert h.callsTo('unstash')*.args*.getAt(0).sort() == ['gitops-plan-prod-api', 'gitops-plan-prod-web']
    }

    static String reviewed(String status, String record = null, List differences = []) {
        return groovy.json.JsonOutput.toJson([status: status, record: record, reviewed_commit: record ? 'abc' : null, differences: differences])
    }

    @Test
    void theApprovalSaysHowEachPlanComparesWithTheReviewOfItsChange() {
        setUpFlow([render: ['prod/api': ['x'], 'prod/db': ['x'], 'prod/web': ['x']],
                   waves: [['prod/api', 'prod/db', 'prod/web']], needs: [:], destroy: []])
        ['prod/api', 'prod/db', 'prod/web'].each { String id ->
            fake.answerFor('gitops-render', id, 0, groovy.json.JsonOutput.toJson([deployment: id, manifest: [protected: true]]))
        }
        List diffs = ['~ update terraform_data.y: attributes differ', '- no longer: update terraform_data.z']
        fake.answerFor('gitops-plan', 'build/prod/api', 4, "{\"change_summary\": \"1 to add\", \"review\": ${reviewed('as reviewed', 'review/abc/1')}}")
        fake.answerFor('gitops-plan', 'build/prod/db', 4, "{\"change_summary\": \"2 to change\", \"review\": ${reviewed('changed since review', 'review/abc/1', diffs)}}")
        fake.answerFor('gitops-plan', 'build/prod/web', 4, "{\"change_summary\": \"1 to change\", \"review\": ${reviewed('not reviewed')}}")
        h.inputHandler = { Map m -> 'alice' }
        List results = runPipeline()
        String message = h.inputs[0].message
        assert message.contains('- prod/api: 1 to add (build/prod/api/plan.md); as reviewed (review/abc/1)')
        assert message.contains('- prod/db: 2 to change (build/prod/db/plan.md); changed since review: ' +
                                '~ update terraform_data.y: attributes differ; - no longer: update terraform_data.z')
        assert message.contains('- prod/web: 1 to change (build/prod/web/plan.md); not reviewed')
        assert results*.review == ['as reviewed', 'changed since review', 'not reviewed']
        assert results[1].reviewDifferences == diffs && results[1].reviewDifferences.getClass() == ArrayList
        assert h.currentBuild.description.readLines() == [
            'prod/api: applied and tagged (approved by alice) - plan: 1 to add - review: as reviewed',
            'prod/db: applied and tagged (approved by alice) - plan: 2 to change - review: changed since review',
            'prod/web: applied and tagged (approved by alice) - plan: 1 to change - review: not reviewed']
    }

    @Test
    void aLoneProtectedDeploymentChangedSinceReviewNamesTheDifferences() {
        setUpFlow([render: ['prod/api': ['x']], destroy: []])
        renders('prod/api', true)
        List diffs = (1..12).collect { "+ create terraform_data.r${it}".toString() }
        fake.answer('gitops-plan', 4, "{\"change_summary\": \"12 to add\", \"review\": ${reviewed('changed since review', 'review/abc/2', diffs)}}")
        runPipeline()
        String message = h.inputs[0].message
        assert message.startsWith('Apply prod/api? 12 to add. It is in a protected environment; the plan is archived as build/prod/api/plan.md. ' +
                                  'Review: changed since review: + create terraform_data.r1; + create terraform_data.r2;')
        assert message.endsWith('+ create terraform_data.r10; and 2 more.')
    }

    @Test
    void anUnprotectedDeploymentsResultSaysItWasAppliedAsReviewed() {
        setUpFlow([render: ['dev/web': ['x']], destroy: []])
        renders('dev/web', false)
        fake.answer('gitops-plan', 4, "{\"review\": ${reviewed('as reviewed', 'review/abc/1')}}")
        assert runPipeline()*.review == ['as reviewed']
        assert h.currentBuild.description == 'dev/web: applied and tagged - review: as reviewed'
        assert h.inputs == []
    }

    @Test
    void aDeletedRequestIsDestroyedAfterApproval() {
        setUpFlow([render: [:], destroy: ['dev/old']])
        h.inputHandler = { Map m -> 'bob' }
        assert runPipeline()*.status == ['destroyed']
        assert h.inputs[0].message.startsWith('Destroy dev/old?')
        assert h.inputs[0].locksHeld == ['gitops-dev-old']
        assert argv('gitops-destroy') == ['--repo=sot', '--confirm=old', '--approved-by=bob', '--json', '--', 'dev/old']
    }

    @Test
    void aCronRunIsADriftCheckOnly() {
        cfg.install = [binDir: fake.dir.path]
        h.currentBuild.timerTriggered()
        fake.enqueue('gitops-render', 0, '{"rendered": [{"deployment": "dev/a"}, {"deployment": "dev/b"}, {"deployment": "dev/c"}], "destroy": []}')
        fake.enqueue('gitops-plan', 4, '{"drift_status": "drift"}')
        fake.enqueue('gitops-plan', 0, '{"drift_status": "in_sync"}')
        fake.enqueue('gitops-plan', 0, '{"drift_status": "never_deployed"}')
        List results = runPipeline(maxParallel: 1)
        assert results*.status == ['drift', 'in sync', 'never deployed']
        assert fake.calls('gitops-apply') == [] && fake.calls('gitops-tag') == []
        assert argv('gitops-render', 0) == ['--repo=sot', '--out=build', '--all', '--json', '--']
        assert argv('gitops-plan', 0) == ['--repo=sot', '--drift', '--json', '--', 'build/dev/a']
        assert h.currentBuild.result == 'UNSTABLE'
        assert h.junits*.testResults.contains('build/dev/a/drift.xml')
        assert h.locks == ['gitops-dev-a', 'gitops-dev-b', 'gitops-dev-c']
        assert argv('gitops-report') == ['--repo=sot', '--out=gitops-report', '--drift-dir=.gitops/drift/build', '--json']
        assert h.stages[-1] == 'Report' && h.htmlReports.size() == 1
    }

    @Test
    void theDriftReportReadsTheDriftJsonOfThisRunOnly() {
        cfg.install = [binDir: fake.dir.path]
        h.currentBuild.timerTriggered()
        fake.enqueue('gitops-render', 0, '{"rendered": [{"deployment": "dev/a"}, {"deployment": "dev/b"}]}')
        fake.enqueue('gitops-plan', 4, '{"drift_status": "drift"}')
        fake.enqueue('gitops-plan', 0, '{"drift_status": "in_sync"}')
        // what the real plan --drift writes into the rendered directory (the fake does not)
        new File(h.workspace, 'build/dev/a').mkdirs()
        new File(h.workspace, 'build/dev/a/drift.json').text = '{"drift": true}'
        // a previous build's leftovers are not this run's drift
        new File(h.workspace, '.gitops/drift/build/dev/z').mkdirs()
        new File(h.workspace, '.gitops/drift/build/dev/z/drift.json').text = '{}'
        runPipeline(maxParallel: 1)
        assert h.callsTo('stash')*.args*.getAt(0)*.name == ['gitops-drift-dev-a', 'gitops-drift-dev-b']
        assert h.callsTo('stash')[0].args[0].includes == 'build/dev/a/drift.json' && h.callsTo('stash')[0].args[0].allowEmpty
        assert h.callsTo('unstash')*.args*.getAt(0) == ['gitops-drift-dev-a', 'gitops-drift-dev-b']
        assert new File(h.workspace, '.gitops/drift/build/dev/a/drift.json').text == '{"drift": true}'
        assert !new File(h.workspace, '.gitops/drift/build/dev/b/drift.json').exists()
        assert !new File(h.workspace, '.gitops/drift/build/dev/z').exists()
        assert argv('gitops-report')[2] == '--drift-dir=.gitops/drift/build'
        assert h.currentBuild.result == 'UNSTABLE'
    }

    @Test
    void theFirstBuildDeploysEverything() {
        cfg.install = [binDir: fake.dir.path]
        h.checkoutHandler = { Object scm, File dir -> [GIT_COMMIT: 'c1'] }
        fake.enqueue('gitops-render', 0, '{"render": {"dev/a": ["every deployment"], "dev/b": ["every deployment"]}, ' +
                     '"waves": [["dev/b"], ["dev/a"]], "needs": {"dev/a": ["dev/b"]}, "destroy": []}')
        renders('dev/b', false)
        renders('dev/a', false)
        fake.answer('gitops-plan', 4)
        assert runPipeline()*.deployment == ['dev/b', 'dev/a']
        assert argv('gitops-render', 0) == ['--repo=sot', '--all', '--list', '--json', '--']
    }

    @Test
    void nothingAffectedIsAQuietSuccess() {
        setUpFlow([render: [:], destroy: []])
        assert runPipeline() == []
        assert h.currentBuild.description == 'nothing to do (c1..c2)'
    }
}
