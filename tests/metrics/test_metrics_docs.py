"""Every example on docs/metrics.md runs and prints what the page shows."""

from __future__ import annotations

import doctest
import re

from conftest import REPO_ROOT

PAGE = REPO_ROOT / "docs" / "metrics.md"


def test_metrics_page_examples_run_as_shown():
    text = PAGE.read_text()
    blocks = re.findall(r"```pycon\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 10, "the page lost its examples"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    globs: dict[str, object] = {}  # the page's blocks run in order in one namespace
    report: list[str] = []
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"metrics.md block {number}", str(PAGE), 0)
        runner.run(test, out=report.append, clear_globs=False)
        globs = test.globs  # DocTest copies the namespace it is given
    assert runner.failures == 0, "".join(report)
