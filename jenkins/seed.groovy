// Job DSL seed: creates every gitops job and owns their parameters (the Jenkinsfiles declare none).
// Run by jenkins/seed.Jenkinsfile, which passes what it read from the source-of-truth repo:
//   environments  newline-separated environment names (environments/*.toml, promotion order first)
//   components    newline-separated component names (packages/*/)
//   deployments   newline-separated <env>/<name> (deployments/*/*.toml)
//   toolkitUrl, toolkitRef   where the Jenkinsfiles of jenkins/ are read from
//   sotUrl, sotBranch, sotCredentials   the source-of-truth repository
//   folderName    the folder of the jobs (default gitops)

String folderName = binding.variables.folderName ?: 'gitops'
Map toolkit = [folder: folderName, url: binding.variables.toolkitUrl ?: '', ref: binding.variables.toolkitRef ?: 'main']
String sotUrl = binding.variables.sotUrl ?: ''
String sotBranch = binding.variables.sotBranch ?: 'main'
String sotCredentials = binding.variables.sotCredentials ?: ''
List<String> environments = lines(binding.variables.environments) ?: ['dev', 'staging', 'prod']
List<String> components = lines(binding.variables.components)
List<String> names = lines(binding.variables.deployments).collect { String d -> d.tokenize('/')[-1] }.unique().sort()

folder(folderName) {
    description('GitOps jobs of gitops-toolkit, created by jenkins/seed.groovy: edit the seed, not the jobs.')
}

// The deploy pipeline: the source-of-truth repo's own Jenkinsfile (`gitopsPipeline()`), built on push.
pipelineJob("${folderName}/deploy") {
    description('On a push to the source-of-truth repo: render, plan, approve (protected environments), apply, tag; destroy deleted requests. Cron runs are drift checks.')
    definition {
        cpsScm {
            scm {
                git {
                    remote {
                        url(sotUrl)
                        credentials(sotCredentials)
                    }
                    branch(sotBranch)
                }
            }
            scriptPath('Jenkinsfile')
            lightweight(true)
        }
    }
    triggers {
        scm('H/5 * * * *')
    }
}

toolkitJob(toolkit, 'certify', 'Certify a component package version: all its modules run together in the sandbox; the record is committed.') {
    parameters {
        choiceParam('COMPONENT', components ?: [''], 'Component (packages/<component>/ of the source-of-truth repo)')
        stringParam('VERSION', '', 'Package version (semver), e.g. 1.1.0')
        booleanParam('FORCE', false, 'Certify again even when a valid certification exists')
    }
}

toolkitJob(toolkit, 'rollback', 'Return a deployment to an earlier recorded deployment, as a new commit the deploy job applies.') {
    parameters {
        choiceParam('ENV', environments, 'Environment')
        choiceParam('NAME', names ?: [''], 'Deployment name')
        stringParam('TARGET', 'previous', 'previous, a sequence number or a tag from gitops-tag history')
        booleanParam('ALLOW_DATA_LOSS', false, 'Allow replacing or deleting stateful resources')
    }
}

toolkitJob(toolkit, 'destroy', 'Destroy every resource of a deployment. CONFIRM must repeat NAME.') {
    parameters {
        choiceParam('ENV', environments, 'Environment')
        choiceParam('NAME', names ?: [''], 'Deployment name')
        stringParam('CONFIRM', '', 'Type the deployment name again')
    }
}

toolkitJob(toolkit, 'promote', 'Move the deployments of a component in TO to a package version that runs in FROM (a commit the deploy job applies).') {
    parameters {
        choiceParam('COMPONENT', components ?: [''], 'Component')
        stringParam('VERSION', '', 'Package version (semver) that runs in FROM')
        choiceParam('FROM', environments, 'Environment the version runs in')
        choiceParam('TO', environments.size() > 1 ? environments[1..-1] + environments[0] : environments, 'Environment to promote to')
    }
}

toolkitJob(toolkit, 'drift', 'Nightly drift check of every deployment: reports (JUnit, unstable build), never applies.') {
    triggers {
        cron('H 4 * * *')
    }
}

toolkitJob(toolkit, 'report', 'The fleet report of the source-of-truth repo: what runs where, which version, since when (HTML Publisher link "Fleet report").') {
    // no parameters: the repo at its branch head; the deploy and drift jobs publish the report too
}

toolkitJob(toolkit, 'toolkit-ci', 'CI of gitops-toolkit itself: make test.', 'jenkins/ci.Jenkinsfile') {
    triggers {
        scm('H/15 * * * *')
    }
}

// A pipeline job whose Jenkinsfile is jenkins/<name>.Jenkinsfile of the toolkit at toolkit.ref.
def toolkitJob(Map toolkit, String name, String text, String path = null, Closure extra) {
    pipelineJob("${toolkit.folder}/${name}") {
        description(text)
        logRotator {
            numToKeep(100)
        }
        properties {
            disableConcurrentBuilds()
        }
        definition {
            cpsScm {
                scm {
                    git {
                        remote {
                            url(toolkit.url)
                        }
                        branch(toolkit.ref)
                    }
                }
                scriptPath(path ?: "jenkins/${name}.Jenkinsfile")
                lightweight(true)
            }
        }
    }.with(extra)
}

List<String> lines(Object text) {
    return text ? (text as String).readLines()*.trim().findAll { String l -> l } : []
}
