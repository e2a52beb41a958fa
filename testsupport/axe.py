"""axe-core in a Playwright page: the WCAG 2.0/2.1 A and AA rules plus axe's best practices.

    violations = axe_violations(page)
    assert not violations, format_violations(violations)

axe-core comes from npm (package.json, installed by `make install`) into node_modules/.
Without it a test is skipped, or fails under CI=true (`require_service`).

The pages' Content-Security-Policy allows only their own scripts, so axe is not added
with a <script> tag: `page.evaluate` runs it through the DevTools protocol, which the
page's CSP does not govern, and the page under test keeps its real policy.
"""

from functools import cache

from testsupport.processes import REPO, require_service

AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
TAGS = (*WCAG, "best-practice")


@cache
def _axe_source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page, *, exclude=(), tags=TAGS, rules_off=()) -> list[dict]:
    """axe's violations on the page as it is now: each a dict with id, impact, help,
    helpUrl and nodes (target selectors, html, failureSummary). `exclude`: CSS selectors
    of parts that are not the project's to fix (a third party's widget); `tags`: the rule
    sets (WCAG for the WCAG 2.0/2.1 A and AA rules alone); `rules_off`: rule ids not run."""
    if not AXE_JS.exists():
        require_service(f"{AXE_JS.relative_to(REPO)} is missing: run `make install`")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;0")
    context = {"include": [["html"]], "exclude": [[selector] for selector in exclude]}
    options = {
        "runOnly": {"type": "tag", "values": list(tags)},
        "rules": {rule: {"enabled": False} for rule in rules_off},
        "resultTypes": ["violations"],
    }
    return page.evaluate(
        """async ([context, options]) => {
             const results = await axe.run(context, options);
             return results.violations.map(v => ({
               id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
               nodes: v.nodes.map(n => ({
                 target: n.target, html: n.html, failureSummary: n.failureSummary,
               })),
             }));
           }""",
        [context, options],
    )


def format_violations(violations: list[dict], *, nodes_per_rule: int = 5) -> str:
    """One paragraph per rule: id, impact, help text, then each failing element's
    selector and axe's summary of what to fix."""
    lines = [f"{len(violations)} axe violation(s):"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:nodes_per_rule]:
            target = " ".join(" >> ".join(part) if isinstance(part, list) else part
                              for part in node["target"])  # fmt: skip
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {target}: {summary[:300]}")
        if len(violation["nodes"]) > nodes_per_rule:
            lines.append(f"    … and {len(violation['nodes']) - nodes_per_rule} more")
    return "\n".join(lines)
