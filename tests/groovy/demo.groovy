// The local pipeline run of `make demo` (scripts/pipeline-demo.sh): PipelineScenario with the story
// printed. Usage: groovy -cp <harness...> demo.groovy <toolkit root> <work dir>
File root = new File(args[0]).canonicalFile
File work = new File(args[1])
List<String> missing = PipelineScenario.missing(root)
if (missing) {
    System.err.println("pipeline demo: not built yet: ${missing.join(', ')} (cargo build --workspace)")
    System.exit(2)
}
new PipelineScenario(root, work, System.out).run()
