// Runs a body with Vault login material in its environment, for the toolkit binaries only.
//
// mode 'approle' (default): a Jenkins "Username with password" credential whose username is the
//   AppRole role_id and whose password is the secret_id -> VAULT_ROLE_ID, VAULT_SECRET_ID.
// mode 'approle-strings': two "Secret text" credentials (roleIdCredentialsId, secretIdCredentialsId).
// mode 'plugin': the HashiCorp Vault plugin logs in (its "Vault App Role Credential") and binds
//   VAULT_ADDR and VAULT_TOKEN (VaultTokenCredentialBinding).
// mode 'none': nothing is bound (the agent has VAULT_TOKEN, or JWT login is used).
// address/namespace -> VAULT_ADDR/VAULT_NAMESPACE (else the agent's, else gitops.toml's [vault]).

def call(Map vault, Closure body) {
    Map v = vault ?: [:]
    String mode = v.mode ?: 'approle'
    String id = v.credentialsId ?: 'gitops-vault-approle'
    List envList = []
    if (v.address) {
        envList << "VAULT_ADDR=${v.address}"
    }
    if (v.namespace) {
        envList << "VAULT_NAMESPACE=${v.namespace}"
    }
    List bindings
    switch (mode) {
        case 'none':
            bindings = []
            break
        case 'approle':
            bindings = [usernamePassword(credentialsId: id, usernameVariable: 'VAULT_ROLE_ID', passwordVariable: 'VAULT_SECRET_ID')]
            break
        case 'approle-strings':
            bindings = [string(credentialsId: v.roleIdCredentialsId ?: 'gitops-vault-role-id', variable: 'VAULT_ROLE_ID'),
                        string(credentialsId: v.secretIdCredentialsId ?: 'gitops-vault-secret-id', variable: 'VAULT_SECRET_ID')]
            break
        case 'plugin':
            bindings = [[$class: 'VaultTokenCredentialBinding', credentialsId: id, vaultAddr: v.address ?: env.VAULT_ADDR]]
            break
        default:
            error("gitopsVault: mode '${mode}': allowed are approle, approle-strings, plugin, none")
    }
    def result = null
    withEnv(envList) {
        if (bindings) {
            withCredentials(bindings) {
                result = body()
            }
        } else {
            result = body()
        }
    }
    return result
}
