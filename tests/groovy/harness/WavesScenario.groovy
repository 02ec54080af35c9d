import groovy.json.JsonSlurper

/**
 * gitopsPipeline over deployments that depend on each other, with the real binaries, real
 * Terraform, real git and Vault (as PipelineScenario, whose set-up and builds it reuses):
 *
 *   1. provision  dev/shop-db (data-store), dev/shop-api (reads shop-db's db_endpoint),
 *                 dev/shop-web (reads shop-api's endpoint), dev/shop-tools (alone)
 *                 -> waves [shop-db, shop-tools] [shop-api] [shop-web], the first in two lanes;
 *                    every value read from the applied dependency's state
 *   2. output     shop-api's load balancer becomes internal: its endpoint changes
 *                 -> shop-web re-planned and applied with the new endpoint
 *   3. same       shop-api changes a setting only: its outputs stay
 *                 -> shop-web "no changes" without a plan
 *   4. failure    shop-db's request breaks, shop-tools changes
 *                 -> shop-db failed, shop-api and shop-web skipped, shop-tools applied
 */
class WavesScenario extends PipelineScenario {
    WavesScenario(File root, File work, PrintStream story) {
        super(root, work, story)
    }

    @Override
    void run() {
        try {
            setUp()
            provisionWaves()
            outputChanges()
            outputStays()
            failureSkipsDependents()
            tell("\nDone: ${builds} pipeline builds; work directory ${work}")
        } finally {
            vault?.destroy()
        }
    }

    void provisionWaves() {
        heading('1. Provision four deployments, three of them a chain of dependencies')
        write('shop-db', '''component = "data-store"
package = "1.0.0"
profile = "internal-tooling"

[app_config]
DB_NAME = "shop"
''')
        write('shop-api', api(false, 'info'))
        write('shop-web', '''component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[dependencies]
api = "shop-api"

[wiring.app_config]
API_URL = "api.endpoint"
''')
        write('shop-tools', tools('info'))
        commitAll('Shop: database, API, front end and tools')
        Map results = byId(build())
        check(results == ['dev/shop-db': 'applied and tagged', 'dev/shop-tools': 'applied and tagged',
                          'dev/shop-api': 'applied and tagged', 'dev/shop-web': 'applied and tagged'], "results ${results}")
        check(lastBuild.parallelPeak == 2, "wave 1 ran in ${lastBuild.parallelPeak} lane(s) at once, expected 2")
        List<String> waves = lastBuild.logText().readLines().findAll { it.startsWith('gitops: wave ') }
        tell("   ${waves.join('; ')}; ${lastBuild.parallelPeak} lanes ran at once in wave 1")
        check(waves == ['gitops: wave 1 of 3: dev/shop-db, dev/shop-tools', 'gitops: wave 2 of 3: dev/shop-api',
                        'gitops: wave 3 of 3: dev/shop-web'], "waves ${waves}")
        check(setting('shop-api', 'SHOP_DB') == output('shop-db', 'db_endpoint'), 'shop-api does not read the applied db_endpoint')
        check(setting('shop-web', 'API_URL') == output('shop-api', 'endpoint'), 'shop-web does not read the applied endpoint')
        tell("   shop-web API_URL = ${setting('shop-web', 'API_URL')}")
    }

    void outputChanges() {
        heading("2. shop-api's load balancer becomes internal: its endpoint changes, shop-web follows")
        String before = output('shop-api', 'endpoint')
        write('shop-api', api(true, 'info'))
        commitAll('shop-api: internal load balancer')
        Map results = byId(build())
        check(results == ['dev/shop-api': 'applied and tagged', 'dev/shop-web': 'applied and tagged'], "results ${results}")
        String after = output('shop-api', 'endpoint')
        check(after != before && after.contains('.internal.'), "endpoint ${before} -> ${after}")
        check(setting('shop-web', 'API_URL') == after, 'shop-web was not re-planned with the new endpoint')
        tell("   shop-web API_URL = ${after}")
    }

    void outputStays() {
        heading('3. shop-api changes a setting only: shop-web is left alone')
        write('shop-api', api(true, 'debug'))
        commitAll('shop-api: debug logging')
        Map results = byId(build())
        check(results == ['dev/shop-api': 'applied and tagged', 'dev/shop-web': 'no changes'], "results ${results}")
        check(!planned('dev/shop-web'), 'shop-web was planned although no output it reads changed')
        check(lastBuild.currentBuild.description.contains('dev/shop-web: no changes - plan: dependency outputs unchanged'),
              lastBuild.currentBuild.description)
    }

    void failureSkipsDependents() {
        heading('4. shop-db breaks: its dependents are skipped, shop-tools goes on')
        write('shop-db', '''component = "data-store"
package = "1.0.0"
profile = "internal-tooling"

[overrides.database]
no_such_input = 1
''')
        write('shop-tools', tools('debug'))
        commitAll('shop-db: a broken override; shop-tools: debug logging')
        Map results = byId(build(true))
        check(results == ['dev/shop-db': 'failed', 'dev/shop-tools': 'applied and tagged',
                          'dev/shop-api': 'skipped: dependency failed', 'dev/shop-web': 'skipped: dependency failed'], "results ${results}")
        check(!planned('dev/shop-api') && !planned('dev/shop-web'), 'a dependent of the failed shop-db was planned')
    }

    // ---------------------------------------------------------------------------------------------

    static String api(boolean internal, String logLevel) {
        return """component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[overrides.load-balancer]
internal = ${internal}

[dependencies]
db = "shop-db"

[wiring.app_config]
SHOP_DB = "db.db_endpoint"

[app_config]
LOG_LEVEL = "${logLevel}"
"""
    }

    static String tools(String logLevel) {
        return """component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[app_config]
LOG_LEVEL = "${logLevel}"
"""
    }

    void write(String name, String text) {
        File f = new File(dev, "deployments/dev/${name}.toml")
        f.parentFile.mkdirs()
        f.text = text
    }

    void commitAll(String message) {
        commit(message, 'deployments/dev')
    }

    static Map byId(List results) {
        return results.collectEntries { [(it.deployment): it.status] }
    }

    /** Whether the last build ran gitops-plan for `id`. */
    boolean planned(String id) {
        return lastBuild.shCalls.any { Map c -> c.label == 'gitops-plan' && c.env.GITOPS_ARG_DIR == "build/${id}" }
    }

    /** Output `name` of dev/<deployment> in its state. */
    String output(String deployment, String name) {
        Map s = (Map) new JsonSlurper().parse(new File(state, "dev/${deployment}.tfstate"))
        return s.outputs[name]?.value
    }

    /** The value of app-config setting `key` of dev/<deployment> in its state. */
    String setting(String deployment, String key) {
        Map s = (Map) new JsonSlurper().parse(new File(state, "dev/${deployment}.tfstate"))
        Map r = (Map) s.resources.find { it.module == 'module.app-config' && it.name == 'config_parameter' }
        Map i = (Map) r?.instances?.find { it.index_key == key }
        Object input = i?.attributes?.input
        if (input instanceof Map && input.containsKey('type') && input.containsKey('value')) {
            input = input.value
        }
        return input instanceof Map ? input.value : null
    }
}
