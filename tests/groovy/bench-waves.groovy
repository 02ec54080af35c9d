// Benchmark B8 of `make bench` (bench/run.sh): WavesBench once per lane count.
// Usage: groovy -cp <stubs:harness:src> bench-waves.groovy <toolkit root> <work dir> <lanes...>
File root = new File(args[0]).canonicalFile
File work = new File(args[1])
List<String> missing = PipelineScenario.missing(root, 'target/release')
if (missing) {
    System.err.println("B8: not built yet: ${missing.join(', ')} (cargo build --workspace --release)")
    System.exit(2)
}
args.drop(2).each { String n ->
    File dir = new File(work, "lanes-${n}")
    dir.deleteDir()
    Map r = new WavesBench(root, dir, n as int).measure()
    println(groovy.json.JsonOutput.toJson(r))
    System.out.flush()
    dir.deleteDir()
}
