/**
 * Benchmark B8 (make bench): 100 affected deployments in 3 waves through gitopsPipeline in the
 * step harness, with the real binaries (target/release), real Terraform, real git and Vault, once
 * per lane count. The fleet: 10 databases (data-store), 40 APIs each reading a database's
 * endpoint, 50 front ends each reading an API's endpoint, added in one commit, so one build plans,
 * applies and tags all 100, wave by wave. A second build of a commit that affects nothing measures
 * the build's fixed cost (checkout, --changed-since, results). Prints one JSON line per lane count.
 */
class WavesBench extends PipelineScenario {
    static final List<Integer> SHAPE = [10, 40, 50]
    final int lanes

    WavesBench(File root, File work, int lanes) {
        super(root, work, null)
        this.lanes = lanes
        binDir = 'target/release'
    }

    Map measure() {
        long start = System.nanoTime()
        try {
            setUp()
            System.err.println(String.format('B8 %d lane(s): set up in %.1f s', lanes, (System.nanoTime() - start) / 1e9))
            new File(dev, 'Jenkinsfile').text = "@Library('gitops-toolkit') _\n\ngitopsPipeline(maxParallel: ${lanes}, report: false)\n"
            writeFleet()
            commit("B8: ${SHAPE.sum()} deployments in ${SHAPE.size()} waves", '.')
            long t0 = System.nanoTime()
            List results = build()
            double seconds = (System.nanoTime() - t0) / 1e9
            int peak = lastBuild.parallelPeak
            System.err.println(String.format('B8 %d lane(s): %d deployments in %.1f s (peak %d lanes)', lanes, SHAPE.sum(), seconds, peak))
            List bad = results.findAll { it.status != 'applied and tagged' }
            check(results.size() == SHAPE.sum() && !bad, "B8 with ${lanes} lane(s): ${bad.size()} of ${results.size()} not applied: ${bad.take(3)}")
            check(lanes == 1 ? peak == 0 : peak == Math.min(lanes, SHAPE.min()), "peak ${peak} lanes")
            new File(dev, 'README.md').text = 'Nothing a deployment reads.\n'
            commit('B8: a commit that affects no deployment', 'README.md')
            long t1 = System.nanoTime()
            check(build() == [], 'the no-op build affected deployments')
            double fixed = (System.nanoTime() - t1) / 1e9
            return [lanes: lanes, seconds: seconds, fixed_seconds: fixed, deployments: SHAPE.sum(), waves: SHAPE, peak: peak]
        } finally {
            vault?.destroy()
        }
    }

    void writeFleet() {
        File d = new File(dev, 'deployments/dev')
        d.mkdirs()
        for (int i = 1; i <= SHAPE[0]; i++) {
            new File(d, "b8-db-${i}.toml").text = 'component = "data-store"\npackage = "1.0.0"\nprofile = "internal-tooling"\n'
        }
        for (int i = 1; i <= SHAPE[1]; i++) {
            new File(d, "b8-api-${i}.toml").text = readsFrom("b8-db-${(i - 1) % SHAPE[0] + 1}", 'DB_ENDPOINT', 'db_endpoint')
        }
        for (int i = 1; i <= SHAPE[2]; i++) {
            new File(d, "b8-web-${i}.toml").text = readsFrom("b8-api-${(i - 1) % SHAPE[1] + 1}", 'API_URL', 'endpoint')
        }
    }

    /** A web-service request whose app setting `setting` is output `output` of `dependency`. */
    static String readsFrom(String dependency, String setting, String output) {
        return """component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[dependencies]
up = "${dependency}"

[wiring.app_config]
${setting} = "up.${output}"
"""
    }
}
