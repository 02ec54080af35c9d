#!/usr/bin/env bash
# The Jenkins shared library's pipeline, run locally: gitopsPipeline (vars/) in the Groovy 2.4 step
# harness of tests/groovy, over a sequence of commits to the example source-of-truth repo (provision,
# update to a new package version, rollback through the rollback job, delete -> destroy with
# approval), then over four deployments that depend on each other (waves, parallel lanes, a
# changed output followed, a failure skipping its dependents), then a pull request reviewed before
# it merges (planned and summarized as a check, nothing applied; merged, then applied "as
# reviewed"; GITOPS_DEMO_REVIEW=full for the whole review story), with the real binaries of
# target/debug, real Terraform and the Vault stand-in.
# Prints the story of each stage. Called by scripts/demo.sh (make demo builds the binaries first).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${PIPELINE_DEMO_DIR:-$root/build/pipeline-demo}"
here="$root/tests/groovy"
if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then
  export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
command -v groovy >/dev/null || { echo "pipeline-demo: groovy is not installed (apt-get install groovy)" >&2; exit 2; }
rm -rf "$work"
mkdir -p "$work"
printf '\n\033[1m== The Jenkins pipeline (vars/gitopsPipeline.groovy) over four commits, dependent deployments, a reviewed pull request\033[0m\n'
echo "   Groovy $(groovy --version | sed -n 's/^Groovy Version: \([^ ]*\).*/\1/p'), binaries from target/debug, work directory $work"
export JAVA_OPTS="${JAVA_OPTS:-} -Dgroovy.root=$root/build/groovy-home"
exec groovy -cp "$here/stubs:$here/harness:$root/src" "$here/demo.groovy" "$root" "$work"
