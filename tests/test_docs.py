"""The docs state only what is true: every relative link in them leads somewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# [text](target) and <img src="target">; absolute URLs and pure anchors are not files.
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|src=\"([^\"]+)\"")


def _documents() -> list[Path]:
    tracked = subprocess.run(
        ["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    found = {ROOT / name for name in tracked} | {ROOT / "README.md", *ROOT.glob("docs/*.md")}
    return sorted(path for path in found if path.is_file())


def relative_links(text: str) -> list[str]:
    """The link targets in ``text`` that name files of this repository."""
    targets = []
    for match in LINK.finditer(text):
        target = (match.group(1) or match.group(2)).split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        targets.append(target)
    return targets


def test_the_link_finder_sees_links_and_skips_urls() -> None:
    text = '[a](docs/x.md#top) [b](https://example.org/y) [c](#here) <img src="docs/p.png">'
    assert relative_links(text) == ["docs/x.md", "docs/p.png"]


@pytest.mark.parametrize("document", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    dead = [
        target
        for target in relative_links(document.read_text(encoding="utf-8"))
        # A link out of the repository (the shared contract beside the checkout) names
        # a file this repository does not hold, so only links inside it are checked.
        if (document.parent / target).resolve().is_relative_to(ROOT)
        and not (document.parent / target).exists()
    ]
    assert not dead, f"dead links in {document.relative_to(ROOT)}: {dead}"
