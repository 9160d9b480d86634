"""report.html in a real browser: headless Chromium runs its scripts and draws every network.

The browser is Debian's ``chromium`` package (``.ci/run`` installs it with apt-get). Without it
the test skips on a developer's machine and fails in CI (``CI=true``), so the check can never
silently drop out of CI.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from figure_helpers import explained

from kgif.cli import main
from kgif.explanation.explanation import explain
from kgif.explanation.network import write_network
from kgif.jobs.explain_run import RunOptions, explain_all, triple_stem

#: A display name that would break a page that embeds names carelessly.
EVIL = "</script><script>document.body.setAttribute('data-pwned','1')</script> & \"q\" 'a' <!--"

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in _BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = "no headless browser (chromium); install it with: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (.ci/run should have)")
    pytest.skip(message)


def _dump_dom(browser: str, page: Path) -> str:
    """The DOM after the page's scripts ran (and 5 s of virtual time for drawing)."""
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-dev-shm-usage", "--virtual-time-budget=5000",
                           "--dump-dom", page.as_uri()],
                          check=True, timeout=120, capture_output=True, text=True)
    return done.stdout


def _run(tmp_path: Path):
    kg, tracin, _, paths = explained(k=3)
    evil = {kg.entity_to_id["X::0"]: EVIL, kg.entity_to_id["X::5"]: "a long name " * 8}
    kg = dataclasses.replace(kg, entity_names={**kg.entity_names, **evil})
    out = tmp_path / "run"
    explain_all(tracin, kg, kg.testing, out, RunOptions(k=3))
    return kg, tracin, paths, out


@pytest.mark.slow
def test_report_renders_and_draws_every_network(tmp_path):
    browser = _browser()
    kg, tracin, paths, out = _run(tmp_path)
    stem = triple_stem(0, kg.testing[0], kg)
    # triple 1 from its .cyjs file (with path edges), triples 2 and 3 from their JSON only
    ex = explain(tracin, kg.testing[:1], k=3)[0]
    write_network(ex, kg, out / stem, "cytoscape", k=3, paths=paths[0])
    assert main(["report", str(out)]) == 0
    dom = _dump_dom(browser, out / "report.html")
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-kgif-networks="3"' in body
    assert "data-pwned" not in body  # the evil name did not run as a script
    boxes = re.findall(r'<div [^>]*id="cy-\d+"[^>]*>', dom)
    assert len(boxes) == 3
    for box in boxes:
        assert 'data-kgif-rendered="true"' in box
    counts = [(int(re.search(r'data-kgif-nodes="(\d+)"', b).group(1)),
               int(re.search(r'data-kgif-edges="(\d+)"', b).group(1))) for b in boxes]
    text = (out / "report.html").read_text(encoding="utf-8")
    networks = [json.loads(re.search(rf'<script type="application/json" id="net-{n}">(.*?)'
                                     "</script>", text, re.S).group(1)) for n in (1, 2, 3)]
    assert counts == [(len(x["nodes"]), len(x["edges"])) for x in networks]
    assert counts[0][1] > 1 + 2 * 3 - 1  # the .cyjs of triple 1 adds the path edges
    names = {node["data"]["name"] for x in networks for node in x["nodes"]}
    assert EVIL in names  # the name survives the escaping intact
    assert dom.count("<canvas") >= 3  # Cytoscape.js draws on canvases inside each container
