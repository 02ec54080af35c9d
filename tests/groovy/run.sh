#!/usr/bin/env bash
# The Groovy suite of the Jenkins shared library, in one JVM: compiles vars/, src/ and jenkins/ with
# Groovy 2.4.21 (the version Jenkins runs), runs CodeNarc with jenkins/codenarc.xml, the step
# unit tests (tests/groovy/unit) and the end-to-end pipeline test (tests/groovy/e2e).
# Needs the Debian packages groovy and libcodenarc-groovy-java (make deps installs them).
#
# Usage: tests/groovy/run.sh [TestClass...]       exit 0 only when nothing failed
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -z "${JAVA_HOME:-}" ]; then
  for j in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/default-java; do
    [ -x "$j/bin/java" ] && { export JAVA_HOME="$j"; break; }
  done
fi
command -v groovy >/dev/null || {
  echo "tests/groovy/run.sh: groovy is not installed (Debian: apt-get install groovy libcodenarc-groovy-java)" >&2
  exit 2
}
version="$(groovy --version 2>/dev/null | sed -n 's/^Groovy Version: \([^ ]*\).*/\1/p')"
if [ "$version" != "2.4.21" ] && [ -z "${GITOPS_ANY_GROOVY:-}" ]; then
  echo "tests/groovy/run.sh: Groovy $version found, Jenkins runs 2.4.21 (GITOPS_ANY_GROOVY=1 to run anyway)" >&2
  exit 2
fi
codenarc=/usr/share/java/CodeNarc.jar
[ -f "$codenarc" ] || {
  echo "tests/groovy/run.sh: $codenarc missing (Debian: apt-get install libcodenarc-groovy-java)" >&2
  exit 2
}
cp="$here/stubs:$here/harness:$here/unit:$here/e2e:$root/src"
cp="$cp:$codenarc:/usr/share/java/GMetrics.jar:/usr/share/java/log4j-1.2.jar"
# Grape/ivy and the Groovy user dir stay out of the caller's HOME.
export JAVA_OPTS="${JAVA_OPTS:-} -Xss4m -Dgroovy.root=$root/build/groovy-home"
exec groovy -cp "$cp" "$here/RunAll.groovy" "$root" "$@"
