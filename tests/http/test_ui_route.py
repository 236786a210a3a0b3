"""How the moderators' page (/ui/) is served: no browser needed, so it runs everywhere
(tests/browser drives the page itself in Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Service

UI_DIR = Path(__file__).resolve().parents[2] / "moderation" / "static" / "ui"
UNSAFE_SINKS = re.compile(
    r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function"
    r"|setAttribute\(\s*[\"'](style|on)"
)


async def test_ui_is_served_with_a_strict_csp(service: Service) -> None:
    async with service.client.get("/ui/") as response:
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
        html = await response.text()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert '<script type="module" src="app.js">' in html
    assert "<style" not in html and " style=" not in html and "onclick" not in html
    for asset in ("app.js", "api.js", "queue.js", "admin.js", "style.css"):
        async with service.client.get(f"/ui/{asset}") as response:
            assert response.status == 200, asset
            assert "Content-Security-Policy" in response.headers
            kind = "javascript" if asset.endswith(".js") else "css"
            assert kind in response.headers["Content-Type"]


def test_the_page_scripts_use_no_unsafe_sinks() -> None:
    """Nothing in the page's scripts turns text into markup or code (the CSP's backstop)."""
    scripts = sorted(UI_DIR.glob("*.js"))
    assert scripts
    for script in scripts:
        assert not UNSAFE_SINKS.search(script.read_text()), script.name
