import groovy.json.JsonSlurper
import hudson.AbortException
import org.codehaus.groovy.control.CompilerConfiguration
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.support.steps.input.Rejection

import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption

/**
 * The step harness (the role JenkinsPipelineUnit plays): loads vars/ as Jenkins does (one global
 * variable per file, called through `call`), runs them and Jenkinsfiles with the pipeline steps
 * they use bound to recorders. `sh` really executes (/bin/sh -xe, like Jenkins' durable task), with
 * the environment built by withEnv/withCredentials and the directory of node/dir.
 *
 * It also checks the rules Jenkins would enforce or that the library promises: sh only on an agent,
 * input never on an agent and always inside a timeout, credentials that exist.
 *
 * `parallel` runs its branches at once on real threads, as Jenkins' branches interleave: each
 * branch has its own environment overlays, directories, agent and locks ([BranchContext]), a
 * `node` block gets a workspace of its own while another branch holds the first (`ws`, `ws@2`,
 * ... as Jenkins names them), and `lock` waits while another branch holds the resource. The
 * recording lists are synchronized; [parallelPeak] is how many branches ran at the same moment.
 */
class PipelineHarness {
    final File root
    final File workspace
    final Map<String, String> baseEnv = [:]
    final List<Map> calls = Collections.synchronizedList([])
    final List<Map> shCalls = Collections.synchronizedList([])
    final List<String> stages = Collections.synchronizedList([])
    /** Every lock step's resources, in the order they were granted. */
    final List<String> locks = Collections.synchronizedList([])
    final List<Map> inputs = Collections.synchronizedList([])
    final List<Map> archived = Collections.synchronizedList([])
    /** publishHTML calls: the target map, the directory, whether reportDir/reportFiles existed. */
    final List<Map> htmlReports = Collections.synchronizedList([])
    final List<Map> junits = Collections.synchronizedList([])
    /** publishChecks calls (Checks API plugin): each call's map. */
    final List<Map> checks = Collections.synchronizedList([])
    /** pullRequest.comment(text) calls (GitHub pipeline plugin): each comment's text. */
    final List<String> prComments = Collections.synchronizedList([])
    /** Each parallel step: its branch names and lanes' thread names. */
    final List<Map> parallels = Collections.synchronizedList([])
    final List properties = []
    final Map<String, Map> credentials = [:]
    final Map<String, Object> vars = [:]
    final Map<String, Closure> steps = [:]
    final Map<String, File> stashes = Collections.synchronizedMap([:])
    final StringBuilder log = new StringBuilder()
    final List<String> masks = Collections.synchronizedList([])
    /** The most parallel branches that ran at one moment. */
    int parallelPeak = 0
    private int parallelRunning = 0
    /** Resource -> the branch (thread) holding it. */
    private final Map<String, Thread> lockOwners = [:]
    /** Workspaces a node block holds now. */
    private final Set<File> busyWorkspaces = [] as Set
    private final ThreadLocal<BranchContext> context = new ThreadLocal<BranchContext>()
    final FakeBuild currentBuild = new FakeBuild()
    Map params = [:]
    /** checkout(scm): (scm, directory) -> the checkout variables. */
    Closure checkoutHandler = { Object scm, File dir -> [:] }
    /** input(...): the step's map -> the value input returns; throw to reject. */
    Closure inputHandler = { Map args -> 'approver' }
    /** Where to tell the story as it happens (stages, echo), or null. */
    PrintStream story = null
    boolean storyShell = false
    private final GroovyShell shell
    /** vars/ compiled once per JVM: compiling is most of a harness's start-up. */
    private static final Map<String, Class> COMPILED = [:]
    private final Binding binding = new Binding()
    private final File stashRoot

    PipelineHarness(File root, File workspace) {
        this.root = root
        this.workspace = workspace
        workspace.mkdirs()
        stashRoot = new File(workspace.absoluteFile.parentFile, "${workspace.name}.stashes")
        ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'USER'].each { String k ->
            if (System.getenv(k) != null) {
                baseEnv[k] = System.getenv(k)
            }
        }
        baseEnv.GIT_CONFIG_GLOBAL = '/dev/null'
        baseEnv.GIT_CONFIG_NOSYSTEM = '1'
        baseEnv.BUILD_TAG = 'jenkins-harness-1'
        baseEnv.BUILD_NUMBER = '1'
        baseEnv.JOB_NAME = 'harness'
        baseEnv.WORKSPACE = workspace.absolutePath
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = HarnessScript.name
        cc.addCompilationCustomizers(new org.codehaus.groovy.control.customizers.ImportCustomizer()
            .addImports('org.jenkinsci.plugins.workflow.libs.Library'))
        shell = new GroovyShell(PipelineHarness.classLoader, binding, cc)
        shell.classLoader.addClasspath(new File(root, 'src').absolutePath)
        binding.setVariable('__harness', this)
        binding.setVariable('env', new EnvProxy(this))
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('scm', 'scm')
        binding.setVariable('pullRequest', new FakePullRequest(this))
        defineSteps()
        new File(root, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }.sort().each { File f ->
            String cacheKey = "${f.canonicalPath}@${f.lastModified()}"
            if (!COMPILED.containsKey(cacheKey)) {
                COMPILED[cacheKey] = shell.parse(f).getClass()
            }
            Script s = (Script) COMPILED[cacheKey].newInstance()
            s.binding = binding
            String name = f.name - '.groovy'
            vars[name] = s
            binding.setVariable(name, s)
        }
    }

    /** Runs a shared-library step as a Jenkinsfile would: `name(args...)`. */
    Object call(String name, Object... args) {
        return dispatch(name, args)
    }

    /** Runs a Jenkinsfile (or any pipeline script) with the library loaded. */
    Object runScript(File file) {
        binding.setVariable('params', params)
        Script s = shell.parse(file.text, 'Jenkinsfile_' + file.name.replaceAll('[^A-Za-z0-9]', '_'))
        s.binding = binding
        return s.run()
    }

    Object dispatch(String name, Object[] args) {
        binding.setVariable('params', params)
        if (vars.containsKey(name)) {
            return ((Script) vars[name]).invokeMethod('call', args)
        }
        Closure step = steps[name]
        if (step == null) {
            throw new MissingMethodException(name, HarnessScript, args)
        }
        calls << [name: name, args: args.toList()]
        return step.call(args.toList())
    }

    /**
     * What a multibranch pull-request build has in its environment (the branch source sets them):
     * CHANGE_ID, CHANGE_TARGET, CHANGE_BRANCH, BRANCH_NAME (PR-<id>) and BUILD_URL.
     */
    void changeRequest(String id, String target = 'main', String branch = "feature-${id}",
                       String buildUrl = "https://jenkins.example.com/job/gitops/job/PR-${id}/1/") {
        baseEnv.CHANGE_ID = id
        baseEnv.CHANGE_TARGET = target
        baseEnv.CHANGE_BRANCH = branch
        baseEnv.BRANCH_NAME = "PR-${id}".toString()
        if (buildUrl) {
            baseEnv.BUILD_URL = buildUrl
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Environment, directories, log

    /** The calling branch's context (the build's own outside any parallel). */
    BranchContext ctx() {
        BranchContext c = context.get()
        if (c == null) {
            c = new BranchContext()
            context.set(c)
        }
        return c
    }

    /** Locks the calling branch holds. */
    List<String> getHeldLocks() {
        return ctx().held
    }

    Map<String, String> effectiveEnv() {
        Map<String, String> e = new LinkedHashMap<String, String>(baseEnv)
        ctx().overlays.each { Map o ->
            o.each { String k, String v ->
                int plus = k.indexOf('+')
                if (plus > 0) {
                    String base = k.substring(0, plus)
                    e[base] = e[base] ? v + File.pathSeparator + e[base] : v
                } else {
                    e[k] = v
                }
            }
        }
        return e
    }

    File cwd() {
        List<File> dirs = ctx().dirs
        return dirs ? dirs[-1] : workspace
    }

    File file(String path) {
        File f = new File(path)
        return f.absolute ? f : new File(cwd(), path)
    }

    void say(String text) {
        String masked = mask(text)
        synchronized (log) {
            log.append(masked)
            if (!masked.endsWith('\n')) {
                log.append('\n')
            }
        }
    }

    String mask(String text) {
        // A synchronized list is iterated under its own lock: lanes on other threads add masks
        // (withCredentials) while this one logs.
        List<String> current
        synchronized (masks) {
            current = masks.findAll { it }
        }
        String out = text
        current.each { String m -> out = out.replace(m, '****') }
        return out
    }

    String logText() {
        synchronized (log) {
            return log.toString()
        }
    }

    List<Map> callsTo(String name) {
        synchronized (calls) {
            return calls.findAll { it.name == name }
        }
    }

    private Object withOverlay(Map o, Closure body) {
        List<Map> overlays = ctx().overlays
        overlays << o
        try {
            return body.call()
        } finally {
            overlays.remove(overlays.size() - 1)
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Steps

    private static Map named(List a) {
        return a && a[0] instanceof Map ? (Map) a[0] : [:]
    }

    private static Closure body(List a) {
        return (Closure) a.find { it instanceof Closure }
    }

    private void defineSteps() {
        steps.sh = { List a -> runSh(a[0] instanceof Map ? (Map) a[0] : [script: a[0]]) }
        steps.echo = { List a -> say(a[0] as String); if (story) { story.println('   ' + mask(a[0] as String).replace('\n', '\n   ')) }; null }
        steps.error = { List a -> throw new AbortException(a[0] as String) }
        steps.unstable = { List a ->
            say('WARNING: ' + a[0]); if (currentBuild.result != 'FAILURE') { currentBuild.result = 'UNSTABLE' }; null
        }
        steps.withEnv = { List a ->
            Map o = [:]
            (a[0] as List).each { Object s -> String t = s as String; int i = t.indexOf('='); o[t.substring(0, i)] = t.substring(i + 1) }
            withOverlay(o, body(a))
        }
        steps.withCredentials = { List a -> withCredentials(a[0] as List, body(a)) }
        steps.usernamePassword = { List a -> [type: 'usernamePassword'] + named(a) }
        steps.string = { List a -> [type: 'string'] + named(a) }
        steps.node = { List a -> onNode(body(a)) }
        steps.parallel = { List a -> runParallel(new LinkedHashMap((Map) a[0])) }
        steps.stage = { List a ->
            stages << (a[0] as String)
            say("[Pipeline] stage ${a[0]}")
            if (story) { story.println("   -- stage: ${a[0]}") }
            body(a).call()
        }
        steps.timeout = { List a ->
            ctx().timeoutDepth++
            try { body(a).call() } finally { ctx().timeoutDepth-- }
        }
        steps.timestamps = { List a -> body(a).call() }
        steps.ansiColor = { List a -> body(a).call() }
        steps.sshagent = { List a -> body(a).call() }
        steps.lock = { List a ->
            Map m = named(a)
            List<String> rs = [a[0] instanceof Map ? m.resource as String : a[0] as String]
            (m.extra ?: []).each { Object x -> rs << (((Map) x).resource as String) }
            acquire(rs)
            try { body(a).call() } finally { release(rs) }
        }
        steps.input = { List a ->
            Map m = named(a)
            if (ctx().nodeDepth > 0) { throw new IllegalStateException('input inside node: it would hold an executor') }
            if (ctx().timeoutDepth == 0) { throw new IllegalStateException('input outside timeout') }
            inputs << (m + [locksHeld: new ArrayList(ctx().held)])
            if (story) { story.println("   ?? input: ${m.message} (submitter ${m.submitter})") }
            Object answer = inputHandler.call(m)
            if (story) { story.println("   -> approved by ${answer}") }
            answer
        }
        steps.dir = { List a ->
            List<File> dirs = ctx().dirs
            dirs << file(a[0] as String)
            dirs[-1].mkdirs()
            try { body(a).call() } finally { dirs.remove(dirs.size() - 1) }
        }
        steps.deleteDir = { List a -> cwd().deleteDir(); null }
        steps.checkout = { List a -> checkoutHandler.call(a[0], cwd()) }
        steps.readJSON = { List a ->
            Map m = named(a)
            new JsonSlurper().parseText(m.containsKey('text') ? m.text as String : file(m.file as String).text)
        }
        steps.readFile = { List a -> file(a[0] instanceof Map ? ((Map) a[0]).file as String : a[0] as String).text }
        steps.writeFile = { List a ->
            Map m = named(a); File f = file(m.file as String); f.parentFile.mkdirs(); f.text = m.text; null
        }
        steps.fileExists = { List a -> file(a[0] instanceof Map ? ((Map) a[0]).file as String : a[0] as String).exists() }
        steps.archiveArtifacts = { List a ->
            Map m = a[0] instanceof Map ? (Map) a[0] : [artifacts: a[0]]
            archived << (m + [artifacts: m.artifacts as String, dir: cwd()]); null
        }
        steps.publishHTML = { List a -> publishHtml(named(a).target instanceof Map ? (Map) named(a).target : named(a)); null }
        steps.junit = { List a ->
            Map m = a[0] instanceof Map ? new LinkedHashMap((Map) a[0]) : [testResults: a[0]]
            m.testResults = m.testResults as String
            junits << (m + [file: file(m.testResults as String), exists: file(m.testResults as String).exists(),
                            text: file(m.testResults as String).exists() ? file(m.testResults as String).text : null])
            null
        }
        steps.publishChecks = { List a -> checks << new LinkedHashMap(named(a)); null }
        steps.stash = { List a -> stash(named(a)); null }
        steps.unstash = { List a -> unstash(a[0] instanceof Map ? ((Map) a[0]).name as String : a[0] as String); null }
        steps.properties = { List a -> properties.addAll(a[0] as List); null }
        steps.disableConcurrentBuilds = { List a -> [type: 'disableConcurrentBuilds'] }
        steps.buildDiscarder = { List a -> [type: 'buildDiscarder', strategy: a[0]] }
        steps.logRotator = { List a -> [type: 'logRotator'] + named(a) }
        steps.pipelineTriggers = { List a -> [type: 'pipelineTriggers', triggers: a[0]] }
        steps.cron = { List a -> [type: 'cron', spec: a[0]] }
        steps.isUnix = { List a -> true }
        steps.jobDsl = { List a -> null }
        steps.git = { List a ->
            Map m = named(a)
            runSh([script: 'git clone -q -b "$H_BRANCH" -- "$H_URL" .', env: [:]] , [H_URL: m.url as String, H_BRANCH: (m.branch ?: 'main') as String])
        }
    }

    /**
     * A node block: the first free workspace of `ws`, `ws@2`, `ws@3`, ... (Jenkins' names for a
     * job's concurrent workspaces), held until the block ends.
     */
    private Object onNode(Closure body) {
        BranchContext c = ctx()
        File ws = null
        if (c.nodeDepth == 0) {
            synchronized (busyWorkspaces) {
                int n = 1
                while (true) {
                    File candidate = n == 1 ? workspace : new File(workspace.parentFile, "${workspace.name}@${n}")
                    if (!busyWorkspaces.contains(candidate)) {
                        ws = candidate
                        busyWorkspaces << ws
                        break
                    }
                    n++
                }
            }
            ws.mkdirs()
            c.dirs << ws
        }
        c.nodeDepth++
        try {
            return body.call()
        } finally {
            c.nodeDepth--
            if (ws != null) {
                c.dirs.remove(c.dirs.size() - 1)
                synchronized (busyWorkspaces) {
                    busyWorkspaces.remove(ws)
                }
            }
        }
    }

    /** Jenkins' parallel: every branch at once (a thread each); after all end, the first failure. */
    private Object runParallel(Map branches) {
        boolean failFast = branches.remove('failFast') as boolean
        BranchContext parent = ctx()
        Map<String, Throwable> failures = Collections.synchronizedMap(new LinkedHashMap<String, Throwable>())
        List<Thread> threads = []
        branches.each { Object name, Object c ->
            Closure branch = (Closure) c
            threads << Thread.start("parallel ${name}") {
                context.set(parent.copy())
                synchronized (this) {
                    parallelRunning++
                    parallelPeak = Math.max(parallelPeak, parallelRunning)
                }
                try {
                    branch.call()
                } catch (Throwable t) {
                    failures[name as String] = t
                } finally {
                    synchronized (this) {
                        parallelRunning--
                    }
                }
            }
        }
        threads*.join()
        parallels << [branches: branches.keySet().collect { it as String }, failFast: failFast]
        if (failures) {
            throw failures.values().iterator().next()
        }
        return null
    }

    /** Waits until no other branch holds any of `rs`, then takes them all. */
    private void acquire(List<String> rs) {
        synchronized (lockOwners) {
            rs.each { String r ->
                if (lockOwners[r] == Thread.currentThread()) {
                    throw new IllegalStateException("lock ${r} taken twice")
                }
            }
            while (rs.any { lockOwners.containsKey(it) }) {
                lockOwners.wait()
            }
            rs.each { String r -> lockOwners[r] = Thread.currentThread() }
            locks.addAll(rs)
        }
        ctx().held.addAll(rs)
    }

    private void release(List<String> rs) {
        ctx().held.removeAll(rs)
        synchronized (lockOwners) {
            rs.each { lockOwners.remove(it) }
            lockOwners.notifyAll()
        }
    }

    private Object runSh(Map m, Map<String, String> extraEnv = [:]) {
        if (ctx().nodeDepth == 0) {
            throw new IllegalStateException('sh outside node: there is no workspace')
        }
        String script = m.script as String
        Map<String, String> env = effectiveEnv() + extraEnv
        File dir = cwd()
        dir.mkdirs()
        shCalls << [script: script, env: env, dir: dir, label: m.label]
        ProcessBuilder pb = new ProcessBuilder(['/bin/sh', '-xe', '-c', script])
        pb.environment().clear()
        pb.environment().putAll(env)
        pb.directory(dir)
        File err = File.createTempFile('harness-sh', '.err')
        pb.redirectError(err)
        Process p = pb.start()
        p.outputStream.close()
        String out = p.inputStream.getText('UTF-8')
        int code = p.waitFor()
        String errText = err.getText('UTF-8')
        err.delete()
        if (errText) {
            say(errText)
            if (story && storyShell) {
                story.print(mask(errText).readLines().findAll { !it.startsWith('+ ') }.collect { '   | ' + it + '\n' }.join(''))
            }
        }
        if (m.returnStdout) {
            if (code != 0) {
                throw new AbortException("script returned exit code ${code}")
            }
            return out
        }
        if (out) {
            say(out)
        }
        if (m.returnStatus) {
            return code
        }
        if (code != 0) {
            throw new AbortException("script returned exit code ${code}")
        }
        return null
    }

    private Object withCredentials(List bindings, Closure body) {
        Map o = [:]
        bindings.each { Object b ->
            Map spec = (Map) b
            String id = spec.credentialsId
            Map c = credentials[id]
            if (c == null) {
                throw new AbortException("Could not find credentials entry with ID '${id}'")
            }
            if (spec.type == 'usernamePassword') {
                o[spec.usernameVariable] = c.username
                o[spec.passwordVariable] = c.password
                masks << (c.password as String)
            } else if (spec.type == 'string') {
                o[spec.variable] = c.secret
                masks << (c.secret as String)
            } else if (spec['$class'] == 'VaultTokenCredentialBinding') {
                o.VAULT_TOKEN = c.token
                if (spec.vaultAddr) {
                    o.VAULT_ADDR = spec.vaultAddr
                }
                masks << (c.token as String)
            } else {
                throw new IllegalArgumentException("unknown credential binding ${spec}")
            }
        }
        return withOverlay(o, body)
    }

    /** includes: comma-separated; each `**` (everything), `dir/**` or one file's path. */
    private void stash(Map m) {
        File base = new File(stashRoot, m.name as String)
        base.deleteDir()
        int copied = 0
        ((m.includes ?: '**') as String).split(',')*.trim().each { String inc ->
            String rel = inc == '**' ? '.' : (inc.endsWith('/**') ? inc[0..-4] : inc)
            File from = file(rel)
            if (from.exists()) {
                copyTree(from.toPath(), new File(base, rel).toPath())
                copied++
            }
        }
        if (copied == 0 && !m.allowEmpty) {
            throw new AbortException("No files included in stash '${m.name}'")
        }
        base.mkdirs()
        stashes[m.name as String] = base
    }

    /**
     * The HTML Publisher as it behaves (htmlpublisher's publishReports): on an agent; a missing or
     * empty reportDir with allowMissing false does not fail the step, it marks the build FAILURE.
     */
    private void publishHtml(Map target) {
        if (ctx().nodeDepth == 0) {
            throw new IllegalStateException('publishHTML outside node: there is no workspace')
        }
        ['reportDir', 'reportFiles', 'reportName'].each { String k ->
            if (!target[k]) {
                throw new AbortException("publishHTML without ${k}: ${target}")
            }
        }
        say('[htmlpublisher] Archiving HTML reports...')
        File dir = file(target.reportDir as String)
        boolean present = (target.reportFiles as String).split(',')*.trim().every { String f -> new File(dir, f).isFile() }
        htmlReports << (new LinkedHashMap(target) + [dir: dir, exists: present])
        if (!dir.isDirectory() || !dir.list()) {
            say("ERROR: Specified HTML directory '${dir}' does not exist.")
            if (!target.allowMissing) {
                currentBuild.result = 'FAILURE'
            }
        }
    }

    private void unstash(String name) {
        File from = stashes[name]
        if (from == null) {
            throw new AbortException("No such saved stash '${name}'")
        }
        copyTree(from.toPath(), cwd().toPath())
    }

    static void copyTree(Path from, Path to) {
        def stream = Files.walk(from)
        try {
            for (Path p : stream.iterator()) {
                Path t = to.resolve(from.relativize(p).toString())
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t)
                } else {
                    Files.createDirectories(t.parent)
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES)
                }
            }
        } finally {
            stream.close()
        }
    }

    /** What an input step throws when a person rejects it. */
    static FlowInterruptedException rejection(String who) {
        return new FlowInterruptedException([new Rejection(who)])
    }
}

/** What one branch of a build has of its own: environment overlays, directories, agent and timeout depth, locks. */
class BranchContext {
    List<Map> overlays = []
    List<File> dirs = []
    int nodeDepth = 0
    int timeoutDepth = 0
    List<String> held = []

    /** A branch of `parallel` starts where its parent is: same blocks, no locks of its own yet. */
    BranchContext copy() {
        return new BranchContext(overlays: new ArrayList(overlays), dirs: new ArrayList(dirs),
                                 nodeDepth: nodeDepth, timeoutDepth: timeoutDepth, held: [])
    }
}

/** `env` as pipelines see it: the environment of the current withEnv/withCredentials block. */
class EnvProxy extends GroovyObjectSupport {
    private final PipelineHarness h

    EnvProxy(PipelineHarness h) {
        this.h = h
    }

    Object getProperty(String name) {
        return h.effectiveEnv()[name]
    }

    void setProperty(String name, Object value) {
        h.baseEnv[name] = value as String
    }

    Object getAt(String name) {
        return getProperty(name)
    }
}

/** `pullRequest` of the GitHub pipeline plugin (pipeline-github): comments are recorded. */
class FakePullRequest {
    private final PipelineHarness h

    FakePullRequest(PipelineHarness h) {
        this.h = h
    }

    Map comment(String text) {
        if (!h.baseEnv.CHANGE_ID) {
            throw new IllegalStateException('pullRequest outside a pull-request build (no CHANGE_ID)')
        }
        h.prComments << text
        h.calls << [name: 'pullRequest.comment', args: [text]]
        return [id: h.prComments.size(), body: text]
    }
}

/** `currentBuild`: description, result and the causes of the build. */
class FakeBuild {
    String description
    String result
    String displayName
    int number = 1
    List<Map> causes = [[_class: 'hudson.model.Cause$UserIdCause', userId: 'starter']]

    List getBuildCauses(String type) {
        return causes.findAll { it._class == type }
    }

    void timerTriggered() {
        causes = [[_class: 'hudson.triggers.TimerTrigger$TimerTriggerCause']]
    }
}
