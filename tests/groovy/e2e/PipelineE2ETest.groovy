import org.junit.Assume
import org.junit.Test

/**
 * gitopsPipeline end to end (see PipelineScenario): real binaries, real Terraform, real git, the
 * Vault stand-in. Skipped, with the reason, while a binary it needs is not built.
 */
class PipelineE2ETest {
    @Test
    void provisionUpdateRollbackDelete() {
        File root = new File(System.getProperty('gitops.root') ?: '.').canonicalFile
        List<String> missing = PipelineScenario.missing(root)
        Assume.assumeTrue("the end-to-end pipeline test needs target/debug/${missing.join(', target/debug/')} " +
                          '(not built yet: cargo build --workspace once they exist)', missing.isEmpty())
        File work = File.createTempDir('gitops-pipeline-e2e', '')
        try {
            new PipelineScenario(root, work, System.getenv('GITOPS_E2E_STORY') ? System.out : null).run()
        } finally {
            work.deleteDir()
        }
    }

    @Test
    void dependentDeploymentsRunInWavesAndLanes() {
        File root = new File(System.getProperty('gitops.root') ?: '.').canonicalFile
        List<String> missing = PipelineScenario.missing(root)
        Assume.assumeTrue("the end-to-end pipeline test needs target/debug/${missing.join(', target/debug/')} " +
                          '(not built yet: cargo build --workspace once they exist)', missing.isEmpty())
        File work = File.createTempDir('gitops-pipeline-waves', '')
        try {
            new WavesScenario(root, work, System.getenv('GITOPS_E2E_STORY') ? System.out : null).run()
        } finally {
            work.deleteDir()
        }
    }
}
