import org.junit.Test

/** The manual jobs of jenkins/ and the Job DSL seed. */
class JenkinsJobsTest extends HarnessTestBase {
    File jenkins = new File(ROOT, 'jenkins')

    void job(String name, Map parameters) {
        h.params = parameters
        h.baseEnv.GITOPS_SOT_URL = 'https://git.example.invalid/platform-live.git'
        h.checkoutHandler = { Object scm, File dir -> [GIT_COMMIT: 'c1'] }
        h.runScript(new File(jenkins, "${name}.Jenkinsfile"))
    }

    void useFakes() {
        // jobs call gitopsInstall without arguments: the agent's preinstalled binaries (the fakes)
        h.baseEnv.GITOPS_TOOLKIT_BIN = fake.dir.path
    }

    @Test
    void rollbackRunsHistoryThenRollback() {
        useFakes()
        job('rollback', [ENV: 'dev', NAME: 'web', TARGET: 'previous', ALLOW_DATA_LOSS: false])
        assert fake.calls()*.bin == ['gitops-tag', 'gitops-rollback']
        assert argv('gitops-rollback') == ['--to=previous', '--repo=sot', '--json', '--', 'dev/web']
        assert h.callsTo('checkout')[0].args[0].userRemoteConfigs[0].url == 'https://git.example.invalid/platform-live.git'
        assert h.currentBuild.description == 'rollback dev/web to previous'
    }

    @Test
    void rollbackRefusedForDataLossSaysSo() {
        useFakes()
        fake.answer('gitops-rollback', 3)
        def e = aborts { job('rollback', [ENV: 'dev', NAME: 'db', TARGET: '2', ALLOW_DATA_LOSS: false]) }
        assert e.message.contains('ALLOW_DATA_LOSS')
    }

    @Test
    void maliciousParametersStopBeforeAnyShell() {
        useFakes()
        def e = aborts { job('rollback', [ENV: 'dev', NAME: 'web', TARGET: 'previous; touch PWNED', ALLOW_DATA_LOSS: false]) }
        assert e.message.contains('TARGET')
        e = aborts { job('destroy', [ENV: 'dev$(touch PWNED)', NAME: "web\nx", CONFIRM: 'web']) }
        assert e.message.contains('ENV:') && e.message.contains('NAME:')
        e = aborts { job('certify', [COMPONENT: 'web-service', VERSION: '1.0.0"; touch PWNED; "', FORCE: false]) }
        assert e.message.contains('VERSION')
        e = aborts { job('promote', [COMPONENT: 'web-service', VERSION: '1.1.0', FROM: 'dev', TO: 'staging/../x']) }
        assert e.message.contains('TO')
        assert h.shCalls == [] && fake.calls() == []
        assertNothingExecuted()
    }

    @Test
    void destroyNeedsTheNameRepeated() {
        useFakes()
        def e = aborts { job('destroy', [ENV: 'dev', NAME: 'web', CONFIRM: 'web2']) }
        assert e.message.contains('CONFIRM must repeat NAME')
        assert fake.calls() == []
    }

    @Test
    void destroyRecordsWhoStartedItAndTakesTheLock() {
        useFakes()
        h.currentBuild.causes = [[_class: 'hudson.model.Cause$UserIdCause', userId: 'carol']]
        job('destroy', [ENV: 'dev', NAME: 'web', CONFIRM: 'web'])
        assert argv('gitops-destroy') == ['--repo=sot', '--confirm=web', '--approved-by=carol', '--json', '--', 'dev/web']
        assert h.locks == ['gitops-dev-web']
    }

    @Test
    void certifyPublishesJunitAndFailsOnARefusal() {
        useFakes()
        job('certify', [COMPONENT: 'web-service', VERSION: '1.1.0', FORCE: true])
        assert argv('gitops-certify') == ['run', '--repo=sot', '--force', '--junit=certify.xml', '--summary=certify.md', '--json', '--', 'web-service', '1.1.0']
        assert h.junits*.testResults == ['certify.xml']
        fake.answer('gitops-certify', 3)
        assert aborts { job('certify', [COMPONENT: 'web-service', VERSION: '1.1.0', FORCE: false]) }.message.contains('refused')
    }

    @Test
    void driftJobIsTheDriftModeOfThePipeline() {
        useFakes()
        fake.enqueue('gitops-render', 0, '{"rendered": [{"deployment": "dev/a"}]}')
        job('drift', [:])
        assert argv('gitops-plan') == ['--repo=sot', '--drift', '--json', '--', 'build/dev/a']
        assert h.properties == []
        assert fake.calls('gitops-apply') == []
    }

    @Test
    void driftJobPublishesTheReportWithTheDriftFound() {
        useFakes()
        fake.enqueue('gitops-render', 0, '{"rendered": [{"deployment": "dev/a"}]}')
        job('drift', [:])
        assert argv('gitops-report') == ['--repo=sot', '--out=gitops-report', '--drift-dir=.gitops/drift/build', '--json']
        assert h.htmlReports*.reportName == ['Fleet report']
    }

    @Test
    void reportJobPublishesTheFleetReportOfTheRepo() {
        useFakes()
        fake.answer('gitops-report', 0, '{"totals": {"deployments": 4, "deployed": 3, "resources": 80, "drifted": 0, "orphans": 1, "at_risk": 0, "locked": 0}}')
        job('report', [:])
        assert argv('gitops-report') == ['--repo=sot', '--out=gitops-report', '--json']
        assert h.callsTo('checkout')[0].args[0].userRemoteConfigs[0].url == 'https://git.example.invalid/platform-live.git'
        assert h.htmlReports*.reportFiles == ['report.html'] && h.htmlReports[0].keepAll
        assert h.archived*.artifacts == ['gitops-report/report.*']
        assert h.stages == ['Report']
        assert h.currentBuild.description == 'fleet report: 4 deployments (3 deployed), 80 resources, 1 orphans, 0 at risk, 0 locked'
        fake.answer('gitops-report', 1)
        assert aborts { job('report', [:]) }.message.contains('gitops-report: failed (exit 1)')
    }

    @Test
    void promoteCommitsTheNewVersionForTheTargetEnvironment() {
        File origin = new File(tmp, 'origin.git')
        File work = new File(tmp, 'work')
        git(tmp, 'init', '-q', '--bare', '-b', 'main', origin.path)
        git(tmp, 'clone', '-q', origin.path, work.path)
        new File(work, 'deployments/dev').mkdirs()
        new File(work, 'deployments/staging').mkdirs()
        new File(work, 'deployments/dev/web.toml').text = 'component = "web-service"\npackage = "1.1.0"\n'
        new File(work, 'deployments/staging/web.toml').text = 'component = "web-service"\npackage = "1.0.0"\nprofile = "x"\n'
        new File(work, 'deployments/staging/db.toml').text = 'component = "data-store"\npackage = "1.0.0"\n'
        git(work, 'add', '-A')
        git(work, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-q', '-m', 'init')
        git(work, 'push', '-q', 'origin', 'HEAD:main')
        h.checkoutHandler = { Object scm, File dir ->
            if (new File(dir, '.git').exists()) {
                git(dir, 'pull', '-q', 'origin', 'main')
            } else {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            [:]
        }
        h.params = [COMPONENT: 'web-service', VERSION: '1.1.0', FROM: 'dev', TO: 'staging']
        h.baseEnv.GITOPS_SOT_URL = origin.path
        h.runScript(new File(jenkins, 'promote.Jenkinsfile'))
        git(work, 'pull', '-q', 'origin', 'main')
        assert new File(work, 'deployments/staging/web.toml').text == 'component = "web-service"\npackage = "1.1.0"\nprofile = "x"\n'
        assert new File(work, 'deployments/staging/db.toml').text.contains('1.0.0')
        assert git(work, 'log', '-1', '--format=%s') == 'Promote web-service 1.1.0 from dev to staging'
        h.params = [COMPONENT: 'web-service', VERSION: '2.0.0', FROM: 'dev', TO: 'staging']
        aborts { h.runScript(new File(jenkins, 'promote.Jenkinsfile')) }
        assert h.logText().contains('no web-service deployment in dev runs 2.0.0')
    }

    @Test
    void ciRunsMakeTestAndPublishesTheGroovyResults() {
        File bin = new File(tmp, 'tools')
        bin.mkdirs()
        new File(bin, 'make').text = '#!/bin/sh\necho "make $*" > make.called\n'
        new File(bin, 'make').setExecutable(true)
        h.baseEnv.PATH = bin.path + ':' + h.baseEnv.PATH
        h.runScript(new File(jenkins, 'ci.Jenkinsfile'))
        assert new File(h.workspace, 'make.called').text.trim() == 'make test'
        assert h.junits*.testResults == ['build/test-results/groovy/*.xml']
    }

    @Test
    void seedJobReadsTheRepoAndRunsJobDsl() {
        File sot = new File(tmp, 'sot-origin')
        ['environments', 'packages/web-service', 'packages/data-store', 'deployments/dev', 'deployments/prod'].each { new File(sot, it).mkdirs() }
        new File(sot, 'gitops.toml').text = 'promotion = ["dev", "staging", "prod"]\n'
        ['dev', 'prod', 'staging', 'sandbox'].each { new File(sot, "environments/${it}.toml").text = '' }
        ['web-service', 'data-store'].each { new File(sot, "packages/${it}/1.0.0.toml").text = '' }
        ['dev/web', 'dev/db', 'prod/web'].each { new File(sot, "deployments/${it}.toml").text = '' }
        git(sot, 'init', '-q', '-b', 'main')
        git(sot, 'add', '-A')
        git(sot, '-c', 'user.name=t', '-c', 'user.email=t@x', 'commit', '-q', '-m', 'init')
        h.baseEnv.GITOPS_SOT_URL = sot.path
        h.runScript(new File(jenkins, 'seed.Jenkinsfile'))
        Map p = h.callsTo('jobDsl')[0].args[0].additionalParameters
        assert p.environments.readLines() == ['dev', 'staging', 'prod', 'sandbox']
        assert p.components.readLines() == ['data-store', 'web-service']
        assert p.deployments.readLines() == ['dev/db', 'dev/web', 'prod/web']
        assert h.callsTo('jobDsl')[0].args[0].targets == 'jenkins/seed.groovy'
    }

    @Test
    void seedCreatesEveryJobAndOwnsItsParameters() {
        DslRecorder dsl = new DslRecorder()
        dsl.run(new File(jenkins, 'seed.groovy'), [environments: 'dev\nstaging\nprod\n', components: 'data-store\nweb-service\n',
                                                   deployments: 'dev/db\ndev/web\nprod/web\n', toolkitUrl: 'https://git/toolkit', toolkitRef: 'v1.0.0',
                                                   sotUrl: 'https://git/sot'])
        assert dsl.jobs()*.args*.getAt(0) == ['gitops/deploy', 'gitops/certify', 'gitops/rollback', 'gitops/destroy', 'gitops/promote', 'gitops/drift', 'gitops/report', 'gitops/toolkit-ci']
        assert dsl.job('gitops/report').parameters() == [:] && dsl.job('gitops/report').all('triggers') == []
        assert dsl.job('gitops/rollback').parameters() == [ENV: ['choiceParam', ['dev', 'staging', 'prod']], NAME: ['choiceParam', ['db', 'web']],
                                                           TARGET: ['stringParam', 'previous'], ALLOW_DATA_LOSS: ['booleanParam', false]]
        assert dsl.job('gitops/destroy').parameters().keySet() as List == ['ENV', 'NAME', 'CONFIRM']
        assert dsl.job('gitops/certify').parameters() == [COMPONENT: ['choiceParam', ['data-store', 'web-service']], VERSION: ['stringParam', ''], FORCE: ['booleanParam', false]]
        assert dsl.job('gitops/promote').parameters().TO == ['choiceParam', ['staging', 'prod', 'dev']]
        assert dsl.job('gitops/drift').all('cron')[0].args == ['H 4 * * *']
        dsl.jobs().findAll { it.args[0] != 'gitops/deploy' }.each { DslNode j ->
            String path = j.all('scriptPath')[0].args[0]
            assert new File(ROOT, path).isFile()
            assert j.all('branch')[0].args == ['v1.0.0']
        }
        assert dsl.job('gitops/deploy').all('url')[0].args == ['https://git/sot']
    }

    @Test
    void jenkinsfilesOfSeededJobsDeclareNoProperties() {
        // Parameters, triggers and build discarders of seeded jobs belong to the seed: a
        // properties() call in their Jenkinsfile would replace them.
        jenkins.listFiles().findAll { it.name.endsWith('.Jenkinsfile') }.each { File f ->
            assert !(f.text =~ /(?m)^\s*properties\s*\(/): "${f.name} calls properties()"
        }
    }

    @Test
    void everyStepHasAHelpPageWithAnExample() {
        new File(ROOT, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.each { File f ->
            File help = new File(f.path.replace('.groovy', '.txt'))
            assert help.isFile(): "${help.name} missing"
            assert help.text.startsWith(f.name - '.groovy')
        }
    }

    static String git(File dir, String... args) {
        Process p = (['git', '-C', dir.path] + args.toList()).execute(['GIT_CONFIG_GLOBAL=/dev/null', 'GIT_CONFIG_NOSYSTEM=1', "PATH=${System.getenv('PATH')}"], dir)
        String out = p.inputStream.text
        String err = p.errorStream.text
        assert p.waitFor() == 0: "git ${args.toList()}: ${err}"
        return out.trim()
    }
}
