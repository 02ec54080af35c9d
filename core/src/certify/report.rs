//! Reports of a certification run for Jenkins: JUnit XML (one test case per step per profile, and
//! per module check) and a Markdown summary.

use crate::records::certification::StepResult;
use std::collections::BTreeMap;

fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Groups steps by their `profile` label, keeping the first-seen order.
fn groups(steps: &[StepResult]) -> Vec<(&str, Vec<&StepResult>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut by: BTreeMap<&str, Vec<&StepResult>> = BTreeMap::new();
    for s in steps {
        if !by.contains_key(s.profile.as_str()) {
            order.push(&s.profile);
        }
        by.entry(&s.profile).or_default().push(s);
    }
    order
        .into_iter()
        .map(|p| (p, by.remove(p).unwrap_or_default()))
        .collect()
}

/// JUnit XML: one `<testsuite>` per profile/environment (and per module), one `<testcase>` per step.
pub fn junit(package: &str, steps: &[StepResult]) -> String {
    let count = |r: &str| steps.iter().filter(|s| s.result == r).count();
    let total_ms: u64 = steps.iter().map(|s| s.duration_ms).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"gitops-certify {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        xml(package),
        steps.len(),
        count("failed"),
        count("skipped"),
        total_ms as f64 / 1000.0
    );
    for (label, group) in groups(steps) {
        let fails = group.iter().filter(|s| s.result == "failed").count();
        let skips = group.iter().filter(|s| s.result == "skipped").count();
        let ms: u64 = group.iter().map(|s| s.duration_ms).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skips}\" time=\"{:.3}\">\n",
            xml(package),
            xml(label),
            group.len(),
            ms as f64 / 1000.0
        ));
        let class = format!("certify.{package}.{label}").replace(['/', '@'], ".");
        for s in group {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&class),
                xml(&s.step),
                s.duration_ms as f64 / 1000.0
            ));
            match s.result.as_str() {
                "failed" => out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(s.message.lines().next().unwrap_or("failed")),
                    xml(&s.message)
                )),
                "skipped" => out.push_str(&format!(
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                    xml(&s.message)
                )),
                _ => out.push_str("/>\n"),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Markdown summary: verdict, then one table row per profile/module with each step's result.
pub fn markdown(
    package: &str,
    verdict: &str,
    facts: &[(&str, String)],
    steps: &[StepResult],
) -> String {
    let mut md = format!("# Certification of {package}: {verdict}\n\n");
    for (k, v) in facts {
        md.push_str(&format!("- {k}: {v}\n"));
    }
    md.push_str("\n| profile / module | step | result | seconds |\n|---|---|---|---|\n");
    for s in steps {
        let mark = match s.result.as_str() {
            "passed" if !s.message.is_empty() => format!("passed: {}", s.message),
            "passed" => "passed".to_owned(),
            "failed" => "**FAILED**".to_owned(),
            _ => "skipped".to_owned(),
        };
        md.push_str(&format!(
            "| {} | {} | {mark} | {:.1} |\n",
            s.profile,
            s.step,
            s.duration_ms as f64 / 1000.0
        ));
    }
    let failed: Vec<&StepResult> = steps.iter().filter(|s| s.result == "failed").collect();
    if !failed.is_empty() {
        md.push_str("\n## Failures\n");
        for s in failed {
            md.push_str(&format!(
                "\n### {} {}\n\n```\n{}\n```\n",
                s.profile,
                s.step,
                s.message.trim_end()
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(profile: &str, step: &str, result: &str, message: &str) -> StepResult {
        StepResult {
            profile: profile.into(),
            step: step.into(),
            result: result.into(),
            duration_ms: 1500,
            message: message.into(),
        }
    }

    #[test]
    fn certify_junit_has_one_case_per_step_and_escapes() {
        let steps = vec![
            step("module/network@v1.0.0", "validate", "passed", ""),
            step(
                "p/certify",
                "plan",
                "passed",
                "22 to add, 0 to change, 0 to destroy, 0 to replace",
            ),
            step("p/certify", "apply", "failed", "bad <thing> & \"quote\""),
            step("p/certify", "verify", "skipped", "an earlier step failed"),
        ];
        let x = junit("web@1.0.0", &steps);
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert!(
            x.contains("failures=\"1\"") && x.contains("skipped=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("bad &lt;thing&gt; &amp; &quot;quote&quot;"),
            "{x}"
        );
        assert_eq!(x.matches("<testsuite ").count(), 2);
        let md = markdown("web@1.0.0", "FAILED", &[], &steps);
        assert!(md.contains("| p/certify | apply | **FAILED** |"), "{md}");
        assert!(
            md.contains(
                "| p/certify | plan | passed: 22 to add, 0 to change, 0 to destroy, 0 to replace |"
            ),
            "the plan step quotes the real change: {md}"
        );
    }
}
