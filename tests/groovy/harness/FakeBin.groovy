/**
 * A directory of fake toolkit binaries for the step unit tests: small shell scripts that record
 * their argv (NUL-separated, so newlines stay visible), environment and directory, print a chosen
 * stdout (the --json output) and exit with a chosen code. Per binary: a default (code + json) and
 * a queue of answers consumed one per call.
 */
class FakeBin {
    static final List<String> BINARIES = ['gitops-render', 'gitops-plan', 'gitops-apply', 'gitops-certify',
                                          'gitops-tag', 'gitops-rollback', 'gitops-destroy', 'gitops-report',
                                          'gitops-review']
    final File dir
    final File rec
    private int queued = 0

    FakeBin(File base) {
        dir = new File(base, 'fakebin')
        rec = new File(base, 'fakerec')
        dir.mkdirs()
        new File(rec, 'queue').mkdirs()
        BINARIES.each { String b ->
            File f = new File(dir, b)
            f.text = SCRIPT
            f.setExecutable(true)
        }
    }

    /** Environment a harness needs so the fakes find their record directory, and PATH to them. */
    void install(PipelineHarness h) {
        h.baseEnv.FAKE_GITOPS_REC = rec.absolutePath
        h.baseEnv.PATH = dir.absolutePath + File.pathSeparator + h.baseEnv.PATH
    }

    void answer(String bin, int code, String json = null) {
        new File(rec, "${bin}.code").text = "${code}\n"
        File j = new File(rec, "${bin}.json")
        if (json == null) {
            j.delete()
        } else {
            j.text = json + '\n'
        }
    }

    void enqueue(String bin, int code, String json = '') {
        File q = new File(rec, "queue/${bin}")
        q.mkdirs()
        queued++
        new File(q, String.format('%06d', queued)).text = "${code}\n${json}\n"
    }

    /** The answer of the next call of `bin` whose last argument is `last` (a deployment, a directory). */
    void answerFor(String bin, String last, int code, String json = '') {
        File d = new File(rec, "for/${bin}")
        d.mkdirs()
        new File(d, last.replace('/', '_')).text = "${code}\n${json}\n"
    }

    /** Every call so far: [bin, argv, env, cwd], in order. */
    List<Map> calls() {
        List<Map> out = []
        rec.listFiles().findAll { it.name.endsWith('.bin') }.sort { it.name }.each { File f ->
            String base = f.path[0..-5]
            out << [bin: f.text.trim(),
                    argv: argv(new File(base + '.argv')),
                    env: env(new File(base + '.env')),
                    cwd: new File(base + '.cwd').text.trim()]
        }
        return out
    }

    List<Map> calls(String bin) {
        return calls().findAll { it.bin == bin }
    }

    private static List<String> argv(File f) {
        String t = f.getText('UTF-8')
        return t ? t[0..-2].split('\u0000', -1).toList() : []
    }

    private static Map<String, String> env(File f) {
        Map<String, String> m = [:]
        f.getText('UTF-8').split('\u0000').each { String kv ->
            int i = kv.indexOf('=')
            if (i > 0) {
                m[kv.substring(0, i)] = kv.substring(i + 1)
            }
        }
        return m
    }

    static final String SCRIPT = '''#!/bin/sh
b=${0##*/}
if [ "${1:-}" = --version ]; then echo "$b 0.1.0"; exit 0; fi
d=$FAKE_GITOPS_REC
# Calls may run at once (parallel branches): the counter and the queue are taken under a lock.
until mkdir "$d/.lock" 2>/dev/null; do sleep 0.01; done
n=$(cat "$d/counter" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$d/counter"
f=$(printf '%s/%06d' "$d" "$n")
printf '%s\\0' "$@" > "$f.argv"
env -0 > "$f.env"
pwd > "$f.cwd"
printf '%s\\n' "$b" > "$f.bin"
last=
out=
for a in "$@"; do
  case $a in --out=*) out=${a#--out=}; mkdir -p -- "$out" ;; esac
  last=$a
done
if [ "$b" = gitops-plan ] && [ -d "$last" ]; then echo '# plan' > "$last/plan.md"; fi
if [ "$b" = gitops-report ] && [ -n "$out" ] && [ ! -f "$d/gitops-report.nofiles" ]; then
  for x in html json md; do echo "fake $x" > "$out/report.$x"; done
fi
q=$d/queue/$b
# An answer for this last argument (answerFor) comes first, then the queue, then the default.
t=$d/for/$b/$(printf '%s' "$last" | tr '/' '_')
first=$(ls "$q" 2>/dev/null | head -n 1)
if [ -f "$t" ]; then
  mv "$t" "$f.answer"
elif [ -n "$first" ]; then
  mv "$q/$first" "$f.answer"
fi
rmdir "$d/.lock"
if [ -f "$f.answer" ]; then
  code=$(head -n 1 "$f.answer")
  tail -n +2 "$f.answer"
else
  code=$(cat "$d/$b.code" 2>/dev/null || echo 0)
  if [ -f "$d/$b.json" ]; then cat "$d/$b.json"; fi
fi
echo "$b: fake run $n, exit $code" >&2
exit "$code"
'''
}
