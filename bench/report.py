#!/usr/bin/env python3
"""Turns the hyperfine exports of bench/run.sh into bench/results.md and bench/results.json."""
import datetime
import json
import os
import platform
import subprocess
import sys

work, big, tf = sys.argv[1], int(sys.argv[2]), sys.argv[3]
raw = os.path.join(work, "raw")
here = os.path.dirname(os.path.abspath(__file__))


def load(name):
    path = os.path.join(raw, name + ".json")
    if not os.path.exists(path):
        return None
    return {r["command"]: r for r in json.load(open(path))["results"]}


def median(name, command=None):
    res = load(name)
    if not res:
        return None
    r = res[command] if command else next(iter(res.values()))
    return r["median"]


# At the largest size B2 is measured side by side with cp -r of its output (the "render" command).
def b2_median(n):
    res = load(f"b2-{n}")
    if not res:
        return None
    return res["render"]["median"] if "render" in res else next(iter(res.values()))["median"]


def ms(x):
    return None if x is None else round(x * 1000, 1)


def span(name, command=None, unit="ms"):
    """' (range a-b ms)': the fastest and slowest run of a hyperfine measurement."""
    res = load(name)
    if not res:
        return ""
    r = res[command] if command else next(iter(res.values()))
    if unit == "s":
        return f" (range {r['min']:.2f}-{r['max']:.2f} s)"
    return f" (range {ms(r['min'])}-{ms(r['max'])} ms)"


rows, data = [], {}


def row(bid, what, value, target, met):
    rows.append((bid, what, value, target, "met" if met else ("missed" if met is not None else "n/a")))
    data[bid + ":" + what] = {"value": value, "target": target, "met": met}


b1_one, b1_pkg = ms(median("b1-one")), ms(median("b1-pkg"))
n_pkg = len(json.load(open(os.path.join(raw, "b1-pkg.out")))["render"])
n_one = len(json.load(open(os.path.join(raw, "b1-one.out")))["render"])
row("B1", f"--changed-since, one deployment changed ({n_one} affected) at {big}", f"{b1_one} ms{span('b1-one')}", "<= 50 ms", b1_one is not None and b1_one <= 50)
row("B1", f"--changed-since, package used by {n_pkg} deployments changed at {big}", f"{b1_pkg} ms{span('b1-pkg')}", "<= 50 ms", b1_pkg is not None and b1_pkg <= 50)
for n in sorted({1000, big}):
    res = load(f"b11-{n}")
    if res:
        paths, rendered = res["paths"]["median"], res["by-render"]["median"]
        found = len(json.load(open(os.path.join(raw, f"b11-{n}.out")))["render"])
        row("B11", f"--changed-since --by-render vs by paths at {n} (bench/one: a comment added to one request; by render {found} affected, by paths 1), side by side",
            f"{ms(rendered)} ms{span(f'b11-{n}', 'by-render')} vs {ms(paths)} ms{span(f'b11-{n}', 'paths')} = {rendered / paths:.0f}x", "report", None)
per = {}
fs = open(os.path.join(raw, "b2-fs")).read().strip()
sizes = sorted({100, 1000, big})
for n in sizes:
    m = b2_median(n)
    per[n] = m / n if m else None
    row("B2", f"render --all, {n} deployments (warm cache, output on {fs})", f"{ms(m)} ms{span(f'b2-{n}', 'render' if n == big and load(f'b2-{n}') and 'render' in load(f'b2-{n}') else None)} ({round(per[n] * 1e6, 1)} us/deployment)", "<= 1 s at 10,000" if n == big else "report", (m <= 1.0) if n == big else None)
floor = load(f"b2-{big}")
if floor:
    r, c = floor["render"]["median"], floor["cp"]["median"]
    files = int(open(os.path.join(raw, "b2-files")).read())
    row("B2", f"render --all at {big} vs cp -r of its own output ({files} files), side by side", f"{r:.2f} s{span(f'b2-{big}', 'render', 's')} vs {c:.2f} s{span(f'b2-{big}', 'cp', 's')} = {r / c:.2f}x", "report (the I/O floor)", None)
b3 = load("b3")
if b3:
    t, h = b3["toolkit"]["median"], b3["by-hand"]["median"]
    row("B3", "render + plan + apply vs terraform init/plan/apply by hand", f"{t:.2f} s{span('b3', 'toolkit', 's')} vs {h:.2f} s{span('b3', 'by-hand', 's')} = {t / h:.3f}x", "ratio <= 1.00", t / h <= 1.00)
b4 = load("b4")
if b4:
    v, g = b4["vendored"]["median"], b4["git-sources"]["median"]
    vb = int(open(os.path.join(raw, "b4-vendored.bytes")).read())
    gb = int(open(os.path.join(raw, "b4-git.bytes")).read())
    row("B4", "50 deployments: init time, git:: sources / vendored", f"{g:.2f} s / {v:.2f} s = {g / v:.1f}x faster", ">= 3x faster", g / v >= 3)
    row("B4", "50 deployments: bytes fetched, git:: clones / shared mirror", f"{gb} / {vb} = {gb / max(vb, 1):.1f}x fewer", ">= 5x fewer", gb / max(vb, 1) >= 5)
b10 = load("b10")
if b10:
    t, h = b10["toolkit"]["median"], b10["by-hand"]["median"]
    row("B10", "AWS on moto: render + plan + apply vs terraform init/plan/apply by hand (aws-dev/orders-api, 31 resources)", f"{t:.1f} s{span('b10', 'toolkit', 's')} vs {h:.1f} s{span('b10', 'by-hand', 's')} = {t / h:.3f}x", "ratio <= 1.05", t / h <= 1.05)
elif os.path.exists(os.path.join(raw, "b10.skip")):
    row("B10", "AWS on moto: toolkit vs by hand", open(os.path.join(raw, "b10.skip")).read().strip(), "ratio <= 1.05", False)

b5 = load("b5")
if b5:
    noop, full = b5["no-op"]["median"], b5["full"]["median"]
    row("B5", "certify: unchanged certified package (no-op) vs full", f"{noop * 1000:.1f} ms{span('b5', 'no-op')} vs {full:.1f} s{span('b5', 'full', 's')} = {full / noop:.0f}x", "no-op < 50 ms", noop < 0.05)
for b in ("render", "plan", "apply", "certify", "tag", "rollback", "destroy", "report", "review"):
    m = ms(median(f"b6-{b}"))
    if m is not None:
        row("B6", f"gitops-{b} --version", f"{m} ms{span(f'b6-{b}')}", "<= 3 ms", m <= 3)
kb = int(open(os.path.join(raw, "b7.kb")).read().strip())
row("B7", f"peak memory of render --all at {big}", f"{kb / 1024:.0f} MB", "<= 150 MB", kb / 1024 <= 150)
# B9: the fleet report of the fleets with a deployment record and a state per deployment.
b8_path = os.path.join(raw, "b8.jsonl")
b8 = [json.loads(l) for l in open(b8_path)] if os.path.exists(b8_path) else []
b8 = {r["lanes"]: r for r in b8}
if b8:
    one = b8.get(1)
    for lanes, r in sorted(b8.items()):
        speed = f", {one['seconds'] / r['seconds']:.2f}x of 1 lane" if one else ""
        target = ">= 1.7x with 4 lanes" if lanes == 4 else "report"
        met = (one["seconds"] / r["seconds"] >= 1.7) if (one and lanes == 4) else None
        row("B8", f"gitopsPipeline, {r['deployments']} deployments in {len(r['waves'])} waves ({'/'.join(map(str, r['waves']))}), {lanes} lane(s)",
            f"{r['seconds']:.1f} s ({r['seconds'] / r['deployments']:.2f} s/deployment{speed}; peak {r['peak']} at once)", target, met)
    if one:
        # The model: per-deployment cost measured with one lane (no two deployments share the CPU),
        # the build's fixed cost from its no-op build; each of N agents runs one lane.
        fixed = one["fixed_seconds"]
        per = (one["seconds"] - fixed) / one["deployments"]
        shape = [w * 10 for w in one["waves"]]
        model = ", ".join(f"{n} agents: {(fixed + sum(-(-w // n) for w in shape) * per) / 60:.1f} min" for n in (1, 4, 8, 16, 32))
        row("B8", f"model: {sum(shape)} deployments in waves {'/'.join(map(str, shape))} on N agents ({per:.2f} s/deployment, {fixed:.1f} s fixed)",
            model, "report", None)
b9 = {n: next(iter(load(f"b9-{n}").values())) for n in sizes if load(f"b9-{n}")}
for n, r in b9.items():
    row("B9", f"gitops-report, {n} recorded deployments with a state each", f"{ms(r['median'])} ms (range {ms(r['min'])}-{ms(r['max'])} ms, {r['median'] / n * 1e6:.0f} us/deployment)",
        "<= 1 s at 10,000" if n == big else "report", (r["median"] <= 1.0) if n == big else None)
if len(b9) > 1:
    steps = list(b9)
    growth = ", ".join(f"{a} -> {b}: x{b9[b]['median'] / b9[a]['median']:.1f} for x{b / a:.0f} deployments" for a, b in zip(steps, steps[1:]))
    row("B9", f"gitops-report growth ({' -> '.join(str(n) for n in steps)} deployments)", growth, "report (x10 is linear)", None)
if os.path.exists(os.path.join(raw, "b9.kb")):
    kb = int(open(os.path.join(raw, "b9.kb")).read().strip())
    row("B9", f"peak memory of gitops-report at {big}", f"{kb / 1024:.0f} MB", "<= 200 MB", kb / 1024 <= 200)
if os.path.exists(os.path.join(raw, "b9-bytes")):
    size = {os.path.basename(p): int(b) for b, p in (l.split() for l in open(os.path.join(raw, "b9-bytes")))}
    row("B9", f"report size at {big}", ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(size.items())), "report", None)

mem = open("/proc/meminfo").readline().split()[1]
tfv = subprocess.run([tf, "version"], capture_output=True, text=True, env=dict(os.environ, TF_CLI_CONFIG_FILE="/dev/null")).stdout.splitlines()[0]
commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
machine = f"{os.cpu_count()} cores, {int(mem) // 1024 // 1024} GiB, {platform.machine()}, {tfv}, {datetime.date.today()}, toolkit at {commit}"
md = ["# Benchmarks", "", f"Machine: {machine}. Medians of repeated runs (hyperfine); ratios measured side by side in one run.", "",
      "| id | what | measured | target | |", "|---|---|---|---|---|"]
md += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
open(os.path.join(here, "results.md"), "w").write("\n".join(md) + "\n")
json.dump({"machine": machine, "results": data}, open(os.path.join(here, "results.json"), "w"), indent=2, sort_keys=True)
print("\n".join(md))
