// Runs one gitops-toolkit binary: the shared plumbing of every gitops* step.
//
// The caller gives a fixed, single-quoted shell command and the values it needs as environment
// variables (GITOPS_ARG_*). No value ever becomes part of the shell text: the command reads them as
// "$GITOPS_ARG_X", so quotes, `$(...)`, `;` or newlines in a value stay data.
//
// stdout (the binary's --json output) goes to a file under .gitops/json/, stderr to the log.
// Exit codes (all binaries): 0 ok, 1 failed, 2 invalid input, 3 refused by a guard, 4 changes.
// 0 and 4 return; 1, 2 and 3 fail the step unless propagate: false, then the caller branches.
// A failing binary prints {"error": ..., "exit_code": N, "status": ...}: result.json.error.

def call(Map spec) {
    String binary = spec.binary
    String key = ((spec.key ?: binary) as String).replaceAll('[^A-Za-z0-9._-]', '_')
    String jsonOut = ".gitops/json/${key}.json"
    List envList = ["GITOPS_JSON_OUT=${jsonOut}"]
    Map values = spec.env ?: [:]
    for (String name : values.keySet()) {
        if (!name.startsWith('GITOPS_ARG_')) {
            error("gitopsExec: ${name}: step arguments travel as GITOPS_ARG_* variables")
        }
        envList << "${name}=${asEnvValue(values[name])}"
    }
    String script = 'mkdir -p .gitops/json && rm -f "$GITOPS_JSON_OUT" && ' + spec.script + ' > "$GITOPS_JSON_OUT"'
    int code = 0
    withEnv(envList) {
        if (spec.vault == null || spec.vault == false) {
            code = sh(returnStatus: true, label: binary, script: script)
        } else {
            gitopsVault(spec.vault as Map) {
                code = sh(returnStatus: true, label: binary, script: script)
            }
        }
    }
    Map result = [binary: binary, code: code, status: statusOf(code), json: readResult(jsonOut), jsonFile: jsonOut]
    if (code == 0 || code == 4 || spec.propagate == false) {
        return result
    }
    String what = spec.what ? " ${spec.what}" : ''
    error("${binary}${what}: ${describe(code)} (exit ${code}); the reason is in the log above")
}

// Booleans become '1' or '' so the command can use ${GITOPS_ARG_X:+--flag}; null becomes ''.
String asEnvValue(Object value) {
    if (value == null || value == false) {
        return ''
    }
    if (value == true) {
        return '1'
    }
    return value as String
}

// The binary's JSON as plain maps and lists (the readJSON types do not survive a CPS step).
def readResult(String jsonOut) {
    if (!fileExists(jsonOut)) {
        return null
    }
    String text = readFile(file: jsonOut).trim()
    return text ? plain(readJSON(text: text)) : null
}

// Maps and lists rebuilt as LinkedHashMap/ArrayList with String keys; other values as they are.
def plain(Object value) {
    if (value instanceof Map) {
        Map out = [:]
        for (Object key : ((Map) value).keySet()) {
            out[key as String] = plain(((Map) value)[key])
        }
        return out
    }
    if (value instanceof List) {
        List out = []
        for (Object item : (List) value) {
            out << plain(item)
        }
        return out
    }
    return value
}

String statusOf(int code) {
    switch (code) {
        case 0: return 'ok'
        case 2: return 'invalid'
        case 3: return 'refused'
        case 4: return 'changes'
        default: return 'failed'
    }
}

String describe(int code) {
    switch (code) {
        case 2: return 'invalid input'
        case 3: return 'refused by a guard'
        default: return 'failed'
    }
}
