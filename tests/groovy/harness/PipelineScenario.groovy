import groovy.json.JsonSlurper

/**
 * The end-to-end story of gitopsPipeline over commits to the example source-of-truth repo, with the
 * real binaries (target/debug), real Terraform, real git and the Vault stand-in:
 *
 *   0. make-example.sh; the repo gets a one-line Jenkinsfile; a bare "origin"; a developer clone
 *   1. provision  add deployments/dev/shop-web.toml (web-service 1.0.0)  -> applied + tagged
 *   2. update     move it to package 1.1.0                               -> applied + tagged
 *   3. rollback   the rollback job (TARGET previous) commits; the pipeline applies it (1.0.0 again)
 *   4. delete     git rm the request -> destroy flow with approval       -> nothing left in the state
 *
 * After each build it checks the state (the gitops:package tag of every resource), the git tags and
 * the fleet report the build published.
 * Used by tests/groovy/e2e/PipelineE2ETest.groovy and, telling the story, by scripts/pipeline-demo.sh.
 */
class PipelineScenario {
    static final List<String> BINARIES = ['gitops-render', 'gitops-plan', 'gitops-apply', 'gitops-tag', 'gitops-rollback', 'gitops-destroy', 'gitops-report']
    static final String DEPLOYMENT = 'dev/shop-web'

    final File root
    final File work
    final PrintStream story
    File origin
    File dev
    File state
    String lastGood
    Process vault
    Map vaultCredentials
    String vaultAddr
    int builds = 0
    /** The harness of the last deploy build (its published fleet report). */
    PipelineHarness lastBuild
    List<String> secrets = []

    PipelineScenario(File root, File work, PrintStream story) {
        this.root = root
        this.work = work
        this.story = story
    }

    /** Where the binaries come from, relative to the toolkit root (the benchmark: target/release). */
    String binDir = 'target/debug'

    /** The binaries the scenario needs that are not built (empty: it can run). */
    static List<String> missing(File root, String binDir = 'target/debug') {
        return BINARIES.findAll { !new File(root, "${binDir}/${it}").canExecute() } +
            (new File(root, "${binDir}/vault-dev").canExecute() ? [] : ['vault-dev'])
    }

    void run() {
        try {
            setUp()
            provision()
            update()
            rollback()
            delete()
            tell("\nDone: ${builds} pipeline builds; work directory ${work}")
        } finally {
            vault?.destroy()
        }
    }

    void setUp() {
        heading('0. The example platform, its origin repo, a one-line Jenkinsfile, Vault')
        work.mkdirs()
        state = new File(work, 'state')
        sh(root, 'bash', 'scripts/make-example.sh', new File(work, 'ex').path)
        origin = new File(work, 'origin.git')
        git(work, 'clone', '-q', '--bare', new File(work, 'ex/repo').path, origin.path)
        dev = new File(work, 'dev')
        git(work, 'clone', '-q', origin.path, dev.path)
        new File(dev, 'Jenkinsfile').text = "@Library('gitops-toolkit') _\n\ngitopsPipeline()\n"
        commit('Jenkinsfile: the GitOps pipeline of this repo', 'Jenkinsfile')
        lastGood = head()
        tell("   origin ${origin}, HEAD ${lastGood[0..7]}; the Jenkinsfile is: gitopsPipeline()")
        startVault()
    }

    void provision() {
        heading('1. Provision: a new request deployments/dev/shop-web.toml (web-service 1.0.0)')
        request('1.0.0')
        commit('Deploy dev/shop-web (web-service 1.0.0)', 'deployments/dev/shop-web.toml')
        List results = build()
        check(results*.status == ['applied and tagged'], "results ${results}")
        checkState(['web-service@1.0.0'])
        checkTags(1)
        checkReport('1.0.0')
    }

    void update() {
        heading('2. Update: dev/shop-web moves to package 1.1.0 (module v1.1.0)')
        request('1.1.0')
        commit('Move dev/shop-web to web-service 1.1.0', 'deployments/dev/shop-web.toml')
        List results = build()
        check(results*.status == ['applied and tagged'], "results ${results}")
        checkState(['web-service@1.1.0'])
        checkTags(2)
        checkReport('1.1.0')
    }

    void rollback() {
        heading('3. Rollback: the rollback job (ENV dev, NAME shop-web, TARGET previous), then the pipeline')
        String before = head()
        PipelineHarness h = harness(new File(work, 'jenkins/rollback'), 'rollback')
        h.checkoutHandler = { Object scm, File dir ->
            check(scm instanceof Map && scm.userRemoteConfigs[0].url == origin.path, "rollback checkout of ${scm}")
            if (!new File(dir, '.git').exists()) {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            git(dir, 'fetch', '-q', '--tags', 'origin')
            git(dir, 'checkout', '-q', '-f', '-B', 'main', 'origin/main')
            [GIT_COMMIT: git(dir, 'rev-parse', 'HEAD')]
        }
        h.params = [ENV: 'dev', NAME: 'shop-web', TARGET: 'previous', ALLOW_DATA_LOSS: false]
        h.runScript(new File(root, 'jenkins/rollback.Jenkinsfile'))
        String after = head()
        check(after != before, 'the rollback job pushed no commit')
        tell("   rollback commit ${after[0..7]}: ${git(origin, 'log', '-1', '--format=%s', after)}")
        check(git(origin, 'show', "${after}:deployments/dev/shop-web.toml").contains('package = "1.0.0"'), 'the rollback commit does not pin 1.0.0')
        List results = build()
        check(results*.status == ['applied and tagged'], "results ${results}")
        checkState(['web-service@1.0.0'])
        checkTags(3)
        checkReport('1.0.0')
    }

    void delete() {
        heading('4. Delete: the request is removed; the pipeline destroys it after approval')
        git(dev, 'pull', '-q', 'origin', 'main')
        git(dev, 'rm', '-q', 'deployments/dev/shop-web.toml')
        git(dev, '-c', 'user.name=Platform Team', '-c', 'user.email=platform-team@example.com', 'commit', '-q', '-m', 'Remove dev/shop-web')
        git(dev, 'push', '-q', 'origin', 'HEAD:main')
        List results = build()
        check(results*.status == ['destroyed'], "results ${results}")
        checkState([])
        checkReport(null)
        List<String> tombstones = git(origin, 'tag', '--list', 'destroyed/*').readLines().findAll { it }
        tell("   tombstone tags in origin: ${tombstones.join(', ')}")
        check(tombstones.any { it.startsWith('destroyed/dev/shop-web/') }, 'no destroyed/dev/shop-web/<seq> tag in origin')
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * One build of the deploy job: the Jenkinsfile of the pushed commit, run by a fresh harness.
     * `failing`: the build must fail (a deployment failed); its results are read all the same, and
     * the next build diffs from the last good commit again, as Jenkins does.
     */
    List build(boolean failing = false) {
        builds++
        String commit = head()
        tell("   build #${builds}: ${lastGood[0..7]}..${commit[0..7]}")
        File ws = new File(work, 'jenkins/deploy')
        PipelineHarness h = harness(ws, "deploy-${builds}")
        h.checkoutHandler = { Object scm, File dir ->
            if (!new File(dir, '.git').exists()) {
                git(dir, 'clone', '-q', origin.path, '.')
            }
            git(dir, 'fetch', '-q', '--tags', 'origin')
            git(dir, 'checkout', '-q', '-f', '--detach', commit)
            [GIT_COMMIT: commit, GIT_PREVIOUS_SUCCESSFUL_COMMIT: lastGood]
        }
        File jenkinsfile = new File(work, 'Jenkinsfile.build')
        jenkinsfile.text = git(origin, 'show', "${commit}:Jenkinsfile")
        List results
        try {
            h.runScript(jenkinsfile)
            check(!failing, 'the build succeeded, but a deployment was to fail')
            results = (List) h.callsTo('junit') ? parseResults(h) : []
        } catch (hudson.AbortException e) {
            if (!failing) {
                tell(h.logText().readLines().takeRight(60).join('\n'))
                throw e
            }
            tell("   the build failed, as it should: ${e.message}")
            results = parseResults(h)
        } catch (Throwable e) {
            tell(h.logText().readLines().takeRight(60).join('\n'))
            throw e
        }
        secrets.each { String s -> check(!h.logText().contains(s), 'a Vault secret reached the build log') }
        h.shCalls.each { Map c -> secrets.each { String s -> check(!c.script.contains(s), 'a Vault secret reached a shell command') } }
        tell("   description: ${h.currentBuild.description.replace('\n', '; ')}")
        if (!failing) {
            lastGood = commit
        }
        lastBuild = h
        return results
    }

    static List parseResults(PipelineHarness h) {
        String text = h.junits.find { it.testResults == 'gitops-results.xml' }?.text
        def suite = new XmlSlurper().parseText(text)
        return suite.testcase.collect { [deployment: it.@name.text(), status: it.failure.size() ? it.failure.@message.text() : statusOf(h, it.@name.text())] }
    }

    static String statusOf(PipelineHarness h, String id) {
        String line = h.currentBuild.description.readLines().find { it.startsWith(id + ': ') }
        return line ? line.substring(id.length() + 2).replaceAll(/ - (plan|review): .*$/, '').replaceAll(/ \(approved by .*\)$/, '') : '?'
    }

    PipelineHarness harness(File ws, String buildTag) {
        // gitops.toml finds the module repositories beside the checkout (../modules): in the
        // workspace and in those of concurrent lanes (ws@2, ...).
        (1..8).each { int n ->
            File w = n == 1 ? ws : new File(ws.parentFile, "${ws.name}@${n}")
            w.mkdirs()
            File modules = new File(w, 'modules')
            if (!java.nio.file.Files.exists(modules.toPath(), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                java.nio.file.Files.createSymbolicLink(modules.toPath(), new File(work, 'ex/modules').toPath())
            }
        }
        PipelineHarness h = new PipelineHarness(root, ws)
        Map<String, String> e = h.baseEnv
        String tools = new File(root, '.tools/bin').path
        e.PATH = "${tools}:${e.PATH}".toString()
        e.GITOPS_TOOLKIT_BIN = new File(root, binDir).path
        e.GITOPS_CACHE_DIR = new File(work, 'cache').path
        e.GITOPS_STATE_DIR = state.path
        e.GITOPS_APPROVERS = 'alice'
        e.GITOPS_SOT_URL = origin.path
        e.HOME = work.path
        e.BUILD_TAG = "jenkins-${buildTag}".toString()
        e.VAULT_ADDR = vaultAddr
        e.GIT_AUTHOR_NAME = 'Jenkins'
        e.GIT_AUTHOR_EMAIL = 'jenkins@example.invalid'
        e.GIT_COMMITTER_NAME = 'Jenkins'
        e.GIT_COMMITTER_EMAIL = 'jenkins@example.invalid'
        ['TF_IN_AUTOMATION': '1', 'TF_INPUT': '0', 'CHECKPOINT_DISABLE': '1', 'TF_CLI_CONFIG_FILE': '/dev/null'].each { k, v -> e[k] = v }
        if (System.getenv('GITOPS_TERRAFORM')) {
            e.GITOPS_TERRAFORM = System.getenv('GITOPS_TERRAFORM')
        }
        h.credentials['gitops-vault-approle'] = vaultCredentials
        h.inputHandler = { Map m ->
            check((m.submitter as String).tokenize(',').contains('alice'), "input without alice as submitter: ${m}")
            'alice'
        }
        h.story = story
        h.storyShell = false
        return h
    }

    void startVault() {
        ProcessBuilder pb = new ProcessBuilder([new File(root, "${binDir}/vault-dev").path, '--print-config'])
        pb.redirectError(ProcessBuilder.Redirect.INHERIT)
        vault = pb.start()
        BufferedReader r = new BufferedReader(new InputStreamReader(vault.inputStream, 'UTF-8'))
        vaultAddr = r.readLine() - 'VAULT_ADDR='
        Map config = (Map) new JsonSlurper().parseText(r.readLine())
        Map role = (Map) config.approle[0]
        vaultCredentials = [username: role.role_id, password: role.secret_id]
        secrets << (role.secret_id as String)
        tell("   OpenBao dev server at ${vaultAddr}; AppRole credentials are the Jenkins credential gitops-vault-approle")
    }

    void request(String version) {
        File f = new File(dev, 'deployments/dev/shop-web.toml')
        f.parentFile.mkdirs()
        f.text = """# The shop front end.
component = "web-service"
package = "${version}"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = 2

[app_config]
LOG_LEVEL = "info"
"""
    }

    void commit(String message, String path) {
        git(dev, 'pull', '-q', 'origin', 'main')
        git(dev, 'add', '--', path)
        git(dev, '-c', 'user.name=Platform Team', '-c', 'user.email=platform-team@example.com', 'commit', '-q', '-m', message)
        git(dev, 'push', '-q', 'origin', 'HEAD:main')
        tell("   commit ${head()[0..7]} ${message}")
    }

    String head() {
        return git(origin, 'rev-parse', 'main')
    }

    /** Every resource of the deployment's state carries exactly these gitops:package values. */
    void checkState(List<String> packages) {
        File f = new File(state, "${DEPLOYMENT}.tfstate")
        List<Object> found = []
        int resources = 0
        if (f.exists()) {
            Map s = (Map) new JsonSlurper().parse(f)
            s.resources.each { Map r ->
                r.instances.each { Map i ->
                    resources++
                    collect(i.attributes, 'gitops:package', found)
                }
            }
        }
        List<String> distinct = found.unique() as List<String>
        tell("   state: ${resources} resources" + (distinct ? ", gitops:package ${distinct.join(', ')}" : ''))
        check(distinct == packages, "state packages ${distinct}, expected ${packages}")
        check(packages ? resources > 0 : resources == 0, "${resources} resources in the state")
    }

    static void collect(Object v, String key, List<Object> out) {
        if (v instanceof Map) {
            v.each { k, x -> if (k == key) { out << x } else { collect(x, key, out) } }
        } else if (v instanceof List) {
            v.each { collect(it, key, out) }
        }
    }

    /**
     * The last build published its fleet report (stage Report: publishHTML "Fleet report",
     * gitops-report/report.*, the build not unstable) and it shows dev/shop-web deployed at
     * `version` (null: not deployed any more).
     */
    void checkReport(String version) {
        PipelineHarness h = lastBuild
        String log = h.logText().readLines().takeRight(40).join('\n')
        check(h.htmlReports*.reportName == ['Fleet report'] && h.htmlReports[0].exists, "no fleet report published: ${h.htmlReports}\n${log}")
        check(h.currentBuild.result == null, "build result ${h.currentBuild.result} (the fleet report failed?)\n${log}")
        File dir = new File(h.workspace, 'gitops-report')
        check(['report.html', 'report.json', 'report.md'].every { new File(dir, it).isFile() }, "not every report.* in ${dir}")
        check(h.archived*.artifacts.contains('gitops-report/report.*'), 'the fleet report was not archived')
        Map report = (Map) new JsonSlurper().parse(new File(dir, 'report.json'))
        Map row = (Map) report.deployments.find { it.id == DEPLOYMENT }
        String deployed = row?.deployed?.version
        tell("   fleet report: ${report.totals}; ${DEPLOYMENT} deployed ${deployed ?: 'no'}")
        check(deployed == version, "the fleet report shows ${DEPLOYMENT} deployed at ${deployed}, expected ${version}")
    }

    /** `count` tags in origin point at commits that the deploy job built. */
    void checkTags(int count) {
        List<String> tags = git(origin, 'tag', '--list').readLines().findAll { it }
        tell("   tags in origin: ${tags.join(', ')}")
        check(tags.size() == count, "${tags.size()} tags, expected ${count}")
        check(git(origin, 'tag', '--points-at', lastGood).trim(), "no tag points at the built commit ${lastGood}")
    }

    void heading(String text) {
        tell("\n== ${text}")
    }

    void tell(String text) {
        if (story) {
            story.println(text)
        }
    }

    static void check(Object ok, String message) {
        if (!ok) {
            // (Object): Groovy would pick AssertionError's private String constructor.
            throw new AssertionError((Object) message)
        }
    }

    static String git(File dir, String... args) {
        return sh(dir, (['git'] + args.toList()) as String[])
    }

    static String sh(File dir, String... cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd.toList())
        pb.directory(dir)
        pb.environment().put('GIT_CONFIG_GLOBAL', '/dev/null')
        pb.environment().put('GIT_CONFIG_NOSYSTEM', '1')
        File err = File.createTempFile('scenario', '.err')
        pb.redirectError(err)
        Process p = pb.start()
        String out = p.inputStream.getText('UTF-8')
        int code = p.waitFor()
        String e = err.text
        err.delete()
        if (code != 0) {
            throw new IllegalStateException("${cmd.toList()} in ${dir}: exit ${code}\n${e}")
        }
        return out.trim()
    }
}
