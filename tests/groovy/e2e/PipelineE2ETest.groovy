import org.junit.Assume
import org.junit.Test

/**
 * gitopsPipeline end to end (see PipelineScenario): real binaries, real Terraform, real git, the
 * Vault stand-in. Skipped, with the reason, while a binary it needs is not built.
 */
class PipelineE2ETest {
    @Test
    void provisionUpdateRollbackDelete() {
        run('gitops-pipeline-e2e') { File root, File work, PrintStream story -> new PipelineScenario(root, work, story) }
    }

    @Test
    void dependentDeploymentsRunInWavesAndLanes() {
        run('gitops-pipeline-waves') { File root, File work, PrintStream story -> new WavesScenario(root, work, story) }
    }

    @Test
    void changeRequestsAreReviewedBeforeTheyMerge() {
        run('gitops-pipeline-review', { File root -> ReviewScenario.missing(root) }) { File root, File work, PrintStream story ->
            new ReviewScenario(root, work, story)
        }
    }

    private static void run(String prefix, Closure make) {
        run(prefix, { File root -> PipelineScenario.missing(root) }, make)
    }

    /** Runs the scenario `make` builds in a fresh directory; skipped, with the reason, while a binary is missing. */
    private static void run(String prefix, Closure missingOf, Closure make) {
        File root = new File(System.getProperty('gitops.root') ?: '.').canonicalFile
        List<String> missing = (List<String>) missingOf(root)
        Assume.assumeTrue("the end-to-end pipeline test needs target/debug/${missing.join(', target/debug/')} " +
                          '(not built yet: cargo build --workspace once they exist)', missing.isEmpty())
        File work = File.createTempDir(prefix, '')
        try {
            ((PipelineScenario) make(root, work, System.getenv('GITOPS_E2E_STORY') ? System.out : null)).run()
        } finally {
            work.deleteDir()
        }
    }
}
