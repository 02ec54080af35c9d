// Checks job parameters before any binary runs: every bad value is named in one error. The binaries
// check again; this only stops a malformed request early and keeps odd values out of the log.
//
//   gitopsValidate(ENV: [params.ENV, 'name'], VERSION: [params.VERSION, 'version'], ...)
//
// kinds: name (DNS label), deployment (<env>/<name>), version (semver), target (previous, a
// sequence number or a tag name), who (an approver), bool (true/false). Returns the values as
// strings (booleans as 'true'/'false').

def call(Map checks) {
    Map out = [:]
    List bad = []
    for (String key : checks.keySet()) {
        List check = checks[key] as List
        def value = check[0]
        String kind = check[1]
        String text = value == null ? '' : value.toString()
        if (!valid(kind, text)) {
            bad << "${key}: ${shown(text)} is not a valid ${kind} (${hint(kind)})"
        }
        out[key] = text
    }
    if (bad) {
        error("invalid parameters:\n  " + bad.join('\n  '))
    }
    return out
}

boolean valid(String kind, String text) {
    String label = '[a-z]([a-z0-9-]{0,61}[a-z0-9])?'
    switch (kind) {
        case 'name': return text ==~ label
        case 'deployment': return text ==~ "${label}/${label}"
        case 'version': return text ==~ /(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?/
        case 'target': return text == 'previous' || text ==~ /[0-9]{1,9}/ || text ==~ /[A-Za-z0-9][A-Za-z0-9._\/@+-]{0,199}/
        case 'who': return text ==~ /[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}/
        case 'bool': return text == 'true' || text == 'false'
        default: return false
    }
}

String hint(String kind) {
    switch (kind) {
        case 'name': return 'lowercase letters, digits and -, starting with a letter'
        case 'deployment': return '<env>/<name>'
        case 'version': return 'semver, e.g. 1.2.0'
        case 'target': return 'previous, a sequence number or a tag'
        case 'who': return 'a user id'
        case 'bool': return 'true or false'
        default: return "unknown kind ${kind}"
    }
}

// Control characters are shown escaped, long values cut: the message is for a person.
String shown(String text) {
    String s = text.length() > 60 ? text[0..59] + '...' : text
    return "'" + s.replace('\n', '\\n').replace('\r', '\\r').replace('\t', '\\t') + "'"
}
