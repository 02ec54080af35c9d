/** One recorded Job DSL call: its arguments and the calls inside its closure. */
class DslNode {
    String name
    List args = []
    List<DslNode> children = []

    static DslNode of(String name, Object[] args) {
        DslNode n = new DslNode(name: name, args: args.findAll { !(it instanceof Closure) }.collect { it instanceof GString ? it as String : it })
        Closure c = (Closure) args.find { it instanceof Closure }
        if (c != null) {
            n.apply(c)
        }
        return n
    }

    void apply(Closure c) {
        c.delegate = this
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
    }

    def methodMissing(String name, Object args) {
        DslNode n = of(name, args as Object[])
        children << n
        return n
    }

    DslNode with(Closure c) {
        apply(c)
        return this
    }

    /** Every node below this one with the name. */
    List<DslNode> all(String wanted) {
        List<DslNode> out = []
        children.each { DslNode c ->
            if (c.name == wanted) {
                out << c
            }
            out.addAll(c.all(wanted))
        }
        return out
    }

    /** Parameter name -> [kind, default or choices]. */
    Map<String, List> parameters() {
        Map<String, List> out = [:]
        all('parameters').each { DslNode p -> p.children.each { DslNode c -> out[c.args[0] as String] = [c.name, c.args[1]] } }
        return out
    }
}
