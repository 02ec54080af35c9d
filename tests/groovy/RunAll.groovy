/**
 * The Groovy suite in one JVM: compile every shared-library file and Jenkinsfile with this Groovy
 * (2.4.21, the version Jenkins runs), CodeNarc over vars/, src/ and jenkins/ with the checked-in
 * ruleset, the static "no value in a shell string" check, then every JUnit test class under
 * tests/groovy/unit and tests/groovy/e2e. Ends with "N passed, N failed, N skipped".
 *
 * Usage: groovy -cp <stubs>:<harness>:<unit>:<e2e>:<src> RunAll.groovy <toolkit root> [TestClass...]
 */
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

File root = new File(args[0]).canonicalFile
System.setProperty('gitops.root', root.path)
List<String> only = args.length > 1 ? args[1..-1] as List : []
int passed = 0
int failed = 0
int skipped = 0
List<String> xmlCases = []
long started = System.currentTimeMillis()

def check = { String name, Closure body ->
    long t0 = System.currentTimeMillis()
    String problem = null
    try {
        problem = body()
    } catch (Throwable e) {
        problem = e.toString()
    }
    double secs = (System.currentTimeMillis() - t0) / 1000.0
    if (problem) {
        failed++
        println "FAIL  ${name}\n${problem.readLines().collect { '      ' + it }.join('\n')}"
        xmlCases << "<testcase classname=\"checks\" name=\"${name}\" time=\"${secs}\"><failure>${problem.replace('&', '&amp;').replace('<', '&lt;')}</failure></testcase>"
    } else {
        passed++
        println "ok    ${name} (${secs}s)"
        xmlCases << "<testcase classname=\"checks\" name=\"${name}\" time=\"${secs}\"/>"
    }
}

List<File> groovyFiles = []
['vars', 'src', 'jenkins'].each { String d ->
    File dir = new File(root, d)
    if (dir.isDirectory()) {
        dir.eachFileRecurse { File f ->
            if (f.isFile() && (f.name.endsWith('.groovy') || f.name.endsWith('Jenkinsfile'))) {
                groovyFiles << f
            }
        }
    }
}
groovyFiles.sort()

if (!only) {
    check("compile ${groovyFiles.size()} files (vars/, src/, jenkins/) with Groovy ${GroovySystem.version}") {
        File out = File.createTempDir()
        List<String> errors = []
        groovyFiles.each { File f ->
            CompilerConfiguration cc = new CompilerConfiguration()
            cc.targetDirectory = out
            cc.classpathList = [new File(root, 'src').path]
            cc.addCompilationCustomizers(new ImportCustomizer().addImports('org.jenkinsci.plugins.workflow.libs.Library'))
            CompilationUnit cu = new CompilationUnit(cc, null, new GroovyClassLoader(this.class.classLoader, cc))
            String cls = f.name.endsWith('.groovy') ? f.name : 'Jenkinsfile_' + f.name.replaceAll('[^A-Za-z0-9]', '_') + '.groovy'
            cu.addSource(cls, f.getText('UTF-8'))
            try {
                cu.compile(Phases.CLASS_GENERATION)
            } catch (Exception e) {
                errors << "${root.toPath().relativize(f.toPath())}: ${e.message}"
            }
        }
        out.deleteDir()
        return errors ? errors.join('\n') : null
    }

    check('codenarc (jenkins/codenarc.xml) over vars/, src/, jenkins/: zero violations') {
        try {
            Class<?> logger = Class.forName('org.apache.log4j.Logger')
            Class<?> level = Class.forName('org.apache.log4j.Level')
            Object rootLogger = logger.getMethod('getRootLogger').invoke(null)
            rootLogger.setLevel(level.getField('OFF').get(null))
            rootLogger.addAppender(Class.forName('org.apache.log4j.varia.NullAppender').newInstance())
        } catch (ClassNotFoundException ignored) {
            // log4j is not on the classpath: CodeNarc only warns.
        }
        def runner = Class.forName('org.codenarc.CodeNarcRunner').newInstance()
        runner.ruleSetFiles = 'file:' + new File(root, 'jenkins/codenarc.xml').path
        // Only these trees are walked (the analyzer would otherwise walk target/ too): a copy of them.
        File tree = File.createTempDir()
        groovyFiles.each { File f ->
            File to = new File(tree, root.toPath().relativize(f.toPath()).toString())
            to.parentFile.mkdirs()
            to.bytes = f.bytes
        }
        def analyzer = Class.forName('org.codenarc.analyzer.FilesystemSourceAnalyzer').newInstance()
        analyzer.baseDirectory = tree.path
        analyzer.includes = '**/*.groovy,**/*Jenkinsfile'
        runner.sourceAnalyzer = analyzer
        File report = new File(root, 'build/codenarc.txt')
        report.parentFile.mkdirs()
        def writer = Class.forName('org.codenarc.report.TextReportWriter').newInstance()
        writer.outputFile = report.path
        runner.reportWriters = [writer]
        def results = runner.execute()
        tree.deleteDir()
        int files = results.getTotalNumberOfFiles(true)
        int n = (1..3).sum { int p -> results.getNumberOfViolationsWithPriority(p, true) } as int
        if (files < groovyFiles.size()) {
            return "CodeNarc analysed ${files} files, expected ${groovyFiles.size()}"
        }
        return n == 0 ? null : "${n} violation(s):\n" + report.readLines().findAll { it.contains('Violation:') || it.startsWith('File:') }.join('\n')
    }

    check('no sh step gets a double-quoted (GString) script') {
        List<String> bad = []
        groovyFiles.each { File f ->
            f.readLines().eachWithIndex { String line, int i ->
                if (line =~ /\bsh\s*\(?\s*"/ || line =~ /\bsh\s*\(.*\bscript:\s*"/ || line =~ /^\s*script:\s*"/) {
                    bad << "${root.toPath().relativize(f.toPath())}:${i + 1}: ${line.trim()}"
                }
            }
        }
        return bad ? bad.join('\n') : null
    }
}

// ------------------------------------------------------------------------------------------------
// JUnit tests
List<String> classNames = []
['unit', 'e2e'].each { String d ->
    File dir = new File(root, "tests/groovy/${d}")
    dir.eachFileMatch(~/.*Test\.groovy/) { File f -> classNames << (f.name - '.groovy') }
}
classNames.sort()
if (only) {
    classNames = classNames.findAll { it in only }
}
JUnitCore core = new JUnitCore()
Map<Description, Long> t0 = [:]
Set<Description> bad = [] as Set
core.addListener(new RunListener() {
    void testStarted(Description d) {
        t0[d] = System.currentTimeMillis()
    }

    void testFailure(Failure f) {
        bad << f.description
        failed++
        String trace = f.trace.readLines().findAll { !(it =~ /^\s+at (sun\.|java\.|org\.codehaus|groovy\.lang|org\.junit|jdk\.)/) }.take(25).join('\n')
        println "FAIL  ${f.description.className}.${f.description.methodName}\n${trace.readLines().collect { '      ' + it }.join('\n')}"
        xmlCases << "<testcase classname=\"${f.description.className}\" name=\"${f.description.methodName}\"><failure>${trace.replace('&', '&amp;').replace('<', '&lt;')}</failure></testcase>"
    }

    void testAssumptionFailure(Failure f) {
        bad << f.description
        skipped++
        println "SKIP  ${f.description.className}.${f.description.methodName}: ${f.message}"
        xmlCases << "<testcase classname=\"${f.description.className}\" name=\"${f.description.methodName}\"><skipped message=\"${(f.message ?: '').replace('&', '&amp;').replace('"', '&quot;').replace('<', '&lt;')}\"/></testcase>"
    }

    void testFinished(Description d) {
        if (!(d in bad)) {
            passed++
            double secs = (System.currentTimeMillis() - (t0[d] ?: System.currentTimeMillis())) / 1000.0
            println "ok    ${d.className}.${d.methodName} (${secs}s)"
            xmlCases << "<testcase classname=\"${d.className}\" name=\"${d.methodName}\" time=\"${secs}\"/>"
        }
    }
})
List<Class> classes = []
classNames.each { String n ->
    try {
        classes << Class.forName(n, true, this.class.classLoader)
    } catch (Throwable e) {
        failed++
        println "FAIL  ${n}: does not compile or load\n      ${e.message}"
        xmlCases << "<testcase classname=\"${n}\" name=\"load\"><failure>${(e.message ?: e.toString()).replace('&', '&amp;').replace('<', '&lt;')}</failure></testcase>"
    }
}
core.run(classes as Class[])

File xml = new File(root, 'build/test-results/groovy/TEST-groovy.xml')
xml.parentFile.mkdirs()
xml.text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"groovy\" tests=\"${passed + failed + skipped}\" failures=\"${failed}\" skipped=\"${skipped}\">\n" +
    xmlCases.join('\n') + '\n</testsuite>\n'
println "groovy suite: ${(System.currentTimeMillis() - started) / 1000.0}s, JUnit XML in ${root.toPath().relativize(xml.toPath())}"
println "${passed} passed, ${failed} failed" + (skipped ? ", ${skipped} skipped" : '')
System.exit(failed == 0 ? 0 : 1)
