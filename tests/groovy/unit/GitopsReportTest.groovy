import org.junit.Test

/** gitopsReport: gitops-report's argv, publishHTML, archiveArtifacts, the returned totals. */
class GitopsReportTest extends HarnessTestBase {
    static final String OUTPUT = groovy.json.JsonOutput.toJson([
        html: 'gitops-report/report.html', json: 'gitops-report/report.json', md: 'gitops-report/report.md',
        totals: [deployments: 12, deployed: 10, resources: 240, drifted: 1, orphans: 2, at_risk: 1, locked: 0],
    ])
    static final Map PUBLISHED = [reportDir: 'gitops-report', reportFiles: 'report.html', reportName: 'Fleet report',
                                  keepAll: true, alwaysLinkToLastBuild: true, allowMissing: false]

    @Test
    void runsTheBinaryPublishesTheHtmlArchivesAndReturnsTheTotals() {
        fake.answer('gitops-report', 0, OUTPUT)
        Map r = step('gitopsReport', [repo: 'sot'])
        assert argv('gitops-report') == ['--repo=sot', '--out=gitops-report', '--json']
        assert h.htmlReports.size() == 1
        assert h.htmlReports[0].subMap(PUBLISHED.keySet()) == PUBLISHED
        assert h.htmlReports[0].exists
        assert h.callsTo('publishHTML')[0].args[0].keySet() == ['target'] as Set
        assert h.archived*.artifacts == ['gitops-report/report.*']
        assert r.code == 0 && r.status == 'ok' && r.published
        assert r.totals == [deployments: 12, deployed: 10, resources: 240, drifted: 1, orphans: 2, at_risk: 1, locked: 0]
        assert r.files == [html: 'gitops-report/report.html', json: 'gitops-report/report.json', md: 'gitops-report/report.md']
        assert r.dir == 'gitops-report'
    }

    @Test
    void theReturnedMapsArePlainCopiesNotTheParser() {
        fake.answer('gitops-report', 0, OUTPUT)
        Map r = step('gitopsReport', [:])
        // the harness' readJSON, like JsonSlurper, answers lazy maps: the step keeps none of them
        assert h.call('readJSON', [text: OUTPUT]).totals.getClass() != LinkedHashMap
        assert [r, r.totals, r.files, r.json, r.json.totals]*.getClass().every { it == LinkedHashMap }
        assert r.totals.keySet().every { it instanceof String }
    }

    @Test
    void dirAndDriftDir() {
        step('gitopsReport', [repo: 'sot', dir: 'out/fleet', driftDir: 'build'])
        assert argv('gitops-report') == ['--repo=sot', '--out=out/fleet', '--drift-dir=build', '--json']
        assert h.htmlReports*.reportDir == ['out/fleet']
        assert h.archived*.artifacts == ['out/fleet/report.*']
    }

    @Test
    void publishFalseSkipsPublishHtmlButArchives() {
        fake.answer('gitops-report', 0, OUTPUT)
        Map r = step('gitopsReport', [repo: 'sot', publish: false])
        assert h.callsTo('publishHTML') == []
        assert h.archived*.artifacts == ['gitops-report/report.*']
        assert !r.published && r.totals.deployments == 12
    }

    @Test
    void aFailingBinaryFailsTheStepAndPublishesNothing() {
        fake.answer('gitops-report', 2)
        assert aborts { step('gitopsReport', [repo: 'sot']) }.message.contains('gitops-report: invalid input (exit 2)')
        assert h.callsTo('publishHTML') == [] && h.archived == []
    }

    @Test
    void propagateFalseReturnsTheFailure() {
        fake.answer('gitops-report', 1)
        Map r = step('gitopsReport', [propagate: false])
        assert r.code == 1 && r.status == 'failed' && r.totals == [:] && !r.published
        assert h.callsTo('publishHTML') == [] && h.archived == []
    }

    @Test
    void aMissingReportHtmlFailsTheStepBeforePublishHtmlCouldFailTheBuild() {
        // publishHTML with allowMissing: false marks the build FAILURE on a missing directory
        // instead of failing its step: the step checks first, so a caller can catch the failure.
        new File(fake.rec, 'gitops-report.nofiles').text = ''
        assert aborts { step('gitopsReport', [:]) }.message.contains('gitops-report wrote no gitops-report/report.html')
        assert h.callsTo('publishHTML') == [] && h.archived == [] && h.currentBuild.result == null
    }

    @Test
    void theHarnessPublishHtmlMarksTheBuildFailedOnAMissingDirectoryLikeThePlugin() {
        h.call('node', { h.call('publishHTML', [target: PUBLISHED]) })
        assert h.currentBuild.result == 'FAILURE' && !h.htmlReports[0].exists
    }

    @Test
    void noVaultLoginByDefaultAndThePlanCredentialsWhenAsked() {
        step('gitopsReport', [repo: 'sot'])
        assert !fake.calls('gitops-report')[0].env.containsKey('VAULT_SECRET_ID')
        step('gitopsReport', [repo: 'sot', vault: [:]])
        Map env = fake.calls('gitops-report')[1].env
        assert env.VAULT_ROLE_ID == 'role-id-123' && env.VAULT_SECRET_ID == SECRET
        assert !h.shCalls.any { it.script.contains(SECRET) } && !h.logText().contains(SECRET)
    }

    @Test
    void evilValuesAreData() {
        step('gitopsReport', [repo: EVIL, driftDir: EVIL, publish: false])
        assert argv('gitops-report') == ["--repo=${EVIL}".toString(), '--out=gitops-report', "--drift-dir=${EVIL}".toString(), '--json']
        assertNothingExecuted()
    }
}
