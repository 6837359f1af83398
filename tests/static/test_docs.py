"""The documentation: the plugins' documentation linted by antsibull-docs, and the documentation site
(scripts/docs.sh: antsibull-docs and Sphinx, offline) built and opened in Debian's chromium with the
network refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import kvmtest

ROOT = kvmtest.ROOT
DOCS_VENV = kvmtest.CACHE / "docs-venv"


def run(cmd: list[str], cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=900, env=kvmtest.ansible_env(**env), check=False
    )


def test_plugin_documentation_passes_antsibull_docs_lint() -> None:
    collection = kvmtest.COLLECTIONS / "ansible_collections/kvmfleet/kvm"
    proc = run(
        [str(DOCS_VENV / "bin/antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."],
        cwd=collection,
        PATH=f"{DOCS_VENV / 'bin'}:/usr/bin:/bin",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_the_documentation_site_builds_and_reads_offline(tmp_path: Path) -> None:
    proc = run(["bash", str(ROOT / "scripts/docs.sh"), str(tmp_path)])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]  # warnings fail the build
    html = tmp_path / "html"
    modules = sorted(path.stem for path in (ROOT / "plugins/modules").glob("*.py"))
    for module in modules:
        assert (html / f"collections/kvmfleet/kvm/{module}_module.html").exists(), module
    guides = ["overview", *sorted(path.stem for path in (ROOT / "docs").glob("*.md"))]
    with kvmtest.offline_browser() as browser:
        browser.get((html / "index.html").as_uri())
        assert browser.title.startswith("kvmfleet.kvm")
        links = {link.get_attribute("href") for link in browser.find_elements("css selector", "a[href]")}
        for guide in guides:
            assert any(href.endswith(f"guide/{guide}.html") for href in links), guide
        assert any(href.endswith("collections/index_module.html") for href in links)
        for page in ("collections/kvmfleet/kvm/guest_module.html", "guide/architecture.html", "guide/report.html"):
            browser.get((html / page).as_uri())
            assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == [], page
            fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert all(name.startswith("file:") for name in fetched), (page, fetched)
        browser.get((html / "collections/kvmfleet/kvm/guest_module.html").as_uri())
        assert browser.find_elements("css selector", "[id='parameter-xml_patches']")
        assert "ElementTree" in browser.find_element("tag name", "body").text
