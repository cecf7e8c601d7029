"""The page under its Content-Security-Policy in Chromium: it works, and the browser reports no violation (the
securitypolicyviolation event, and the console, which the new_page fixture watches). And why style-src keeps
'unsafe-inline': with a strict style-src, Chromium refuses plotly.js's own styles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route, expect

from app.security import PAGE_POLICY
from tests.browser.conftest import ConsoleLog, wait_for_prediction
from tests.browser.helpers import draw_digit

# Installed before any of the page's scripts: every violation the browser reports, as the page would see it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push({
  directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, sample: e.sample }));
"""


def violations(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.__violations")
    return found


def use_the_page(page: Page) -> None:
    """Draw, predict, and run backpropagation to the input: every kind of plot the page draws, hovered once."""
    draw_digit(page, 7)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "7", timeout=10_000)
    page.get_by_test_id("backward-run").click()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.locator(".js-plotly-plot").first.hover()


def test_the_page_works_under_its_policy_with_no_violation(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    logged: list[str] = []  # every console message, warnings included; new_page fails the test on errors besides
    page.on("console", lambda message: logged.append(message.text))
    response = page.goto(server_url)
    assert response is not None
    assert response.headers["content-security-policy"] == PAGE_POLICY
    assert wait_for_prediction(page) in range(10)
    use_the_page(page)
    assert violations(page) == []
    assert [m for m in logged if "Content Security Policy" in m or "strict CSP" in m] == []


def test_a_strict_style_src_breaks_plotly(new_page: Callable[..., Page], server_url: str, console: ConsoleLog) -> None:
    # The page served with style-src 'self' alone: Chromium refuses the <style> elements plotly.js adds.
    console.allow(r"Content Security Policy")
    strict = PAGE_POLICY.replace("style-src 'self' 'unsafe-inline'", "style-src 'self'")
    assert strict != PAGE_POLICY

    def serve_strict(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": strict})

    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.route(server_url + "/", serve_strict)
    page.goto(server_url)
    wait_for_prediction(page)
    use_the_page(page)
    refused = violations(page)
    assert refused, "plotly.js no longer needs inline styles: drop 'unsafe-inline' from style-src in app/security.py"
    assert {v["directive"] for v in refused} <= {"style-src-elem", "style-src-attr"}, refused
    assert any("plotly.min.js" in (v["source"] or "") for v in refused), refused


def test_the_api_docs_render_offline_with_nothing_from_another_origin(
        new_page: Callable[..., Page], server_url: str, console: ConsoleLog) -> None:
    """Swagger UI and ReDoc draw the API from files this server sends (fastapi-offline); any request elsewhere is
    aborted, as it would fail on a machine without internet, and the pages still render. One thing is refused by the
    policy itself: ReDoc's "powered by" logo, which its script names on cdn.redoc.ly."""
    console.allow(r"cdn\.redoc\.ly/redoc/logo-mini\.svg")
    page = new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if route.request.url.startswith(server_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{server_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CNN Visualizer")
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/forward").first).to_be_visible()
    page.goto(f"{server_url}/redoc")
    expect(page.locator("h1").filter(has_text="CNN Visualizer")).to_be_visible()
    expect(page.get_by_text("/api/backward").first).to_be_attached()
    assert elsewhere == []
    assert [v for v in violations(page) if "cdn.redoc.ly/redoc/logo-mini.svg" not in v["blocked"]] == []
