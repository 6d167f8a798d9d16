"""axe-core accessibility checks for the pages the browser tests open.

``await assert_accessible(page, "console-ringing")`` runs the vendored axe-core
(``tests/e2e/vendor/axe.min.js``, see its README for version and licence) over the page as
it is now and fails on every violation of the given impacts (serious and critical unless
told otherwise), naming rule, impact, target selectors and help. The ``new_page`` fixture
in ``conftest.py`` calls it for every page still open when a test ends.

axe is evaluated through the DevTools protocol, so the pages keep their real
Content-Security-Policy (``script-src 'self'``): a CSP regression still shows.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

#: What fails a test unless a caller asks for more: axe's two worst impacts.
SERIOUS = frozenset({"serious", "critical"})
#: Every impact axe reports, for pages that must be clean of all violations.
ALL_IMPACTS = frozenset({"minor", "moderate", "serious", "critical"})

_RUN = """async () => {
    // Let finite transitions settle, so colours are measured as the user sees them.
    const finite = document.getAnimations().filter(
        (a) => a.effect && a.effect.getTiming().iterations !== Infinity);
    await Promise.race([Promise.all(finite.map((a) => a.finished.catch(() => null))),
                        new Promise((resolve) => setTimeout(resolve, 1000))]);
    const results = await window.axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({target: n.target.map(String).join(" "),
                                    impact: n.impact, summary: n.failureSummary || ""})),
    }));
}"""


@cache
def _axe_source() -> str:
    # A trailing expression makes Playwright treat the text as a script, not a function.
    return AXE.read_text(encoding="utf-8") + "\n;true"


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on ``page`` now: ``{id, impact, help, helpUrl, nodes}`` each."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    violations: list[dict[str, Any]] = await page.evaluate(_RUN)
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    """One block per rule: id, impact, help, then each failing node's selector."""
    lines: list[str] = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}"
                     f" <{violation['helpUrl']}>")
        for node in violation["nodes"][:10]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}  [{node['impact']}] {summary[:300]}")
        if len(violation["nodes"]) > 10:
            lines.append(f"    … and {len(violation['nodes']) - 10} more")
    return "\n".join(lines)


async def assert_accessible(page: Page, name: str,
                            impacts: frozenset[str] = SERIOUS) -> None:
    """Fail if axe finds a violation of one of ``impacts`` on ``page`` (``name`` says where)."""
    violations = [v for v in await axe_violations(page) if v["impact"] in impacts]
    assert not violations, (f"axe: {len(violations)} violation(s) on {name} "
                            f"({page.url}):\n{describe(violations)}")
