// The local pipeline run of `make demo` (scripts/pipeline-demo.sh): PipelineScenario, then
// WavesScenario (dependent deployments in waves and parallel lanes), then ReviewScenario's short
// story (a pull request reviewed before it merges, then applied as reviewed; GITOPS_DEMO_REVIEW=full
// for its whole story: a deletion, a policy deny, a protected environment, a change that moved
// since its review), with the story printed.
// Usage: groovy -cp <harness...> demo.groovy <toolkit root> <work dir>
File root = new File(args[0]).canonicalFile
File work = new File(args[1])
List<String> missing = ReviewScenario.missing(root)
if (missing) {
    System.err.println("pipeline demo: not built yet: ${missing.join(', ')} (cargo build --workspace)")
    System.exit(2)
}
new PipelineScenario(root, new File(work, 'lifecycle'), System.out).run()
System.out.println('\n\033[1m== The same pipeline over deployments that depend on each other: waves, lanes\033[0m')
new WavesScenario(root, new File(work, 'waves'), System.out).run()
System.out.println('\n\033[1m== Review before merge: a pull request planned and summarized, then merged and applied as reviewed\033[0m')
ReviewScenario review = new ReviewScenario(root, new File(work, 'review'), System.out)
if (System.getenv('GITOPS_DEMO_REVIEW') == 'full') {
    review.run()
} else {
    review.runShort()
}
