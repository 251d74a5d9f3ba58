"""The HTML pages rendered from the package's Jinja2 templates: user-controlled names are
escaped, undefined fields fail, Jinja2 loads only when a page is rendered, and the
templates ship inside the package."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import jinja2
import pytest

from monitor_fixtures import feature, summary
from opsloop.core.profile import compute_profile
from opsloop.data.features import FeatureSpec
from opsloop.gate.evaluate import GateReport
from opsloop.gate.report import to_html
from opsloop.monitor.report import render_html
from opsloop.templates import render

SCRIPT = "<script>alert('x')</script>"


def test_a_category_named_script_is_escaped_everywhere() -> None:
    import pandas as pd

    specs = [FeatureSpec("c", "categorical", "string"), FeatureSpec('<b x="1">', "numeric", "")]
    reference = compute_profile(
        pd.DataFrame({"c": ["<script>", "b", "<script>"], '<b x="1">': [1.0, 2.0, 3.0]}), specs
    )
    cat = feature("c", 0.3, test="jensenshannon", drifted=True)
    cat["reference_counts"], cat["current_counts"] = [2, 1, 0, 0], [0, 1, 3, 0]
    num = feature('<b x="1">', 0.1)
    s = summary(0, [cat, num], notes=[SCRIPT])
    s["drift"]["prediction"] = feature(SCRIPT, 0.2)
    html = render_html(s, reference, title=SCRIPT)
    assert "<script" not in html and "<b " not in html
    assert "&lt;script&gt;: reference 66.7%" in html  # the category's histogram bar
    assert html.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") == 3  # title ×2, note
    assert "&lt;b x=&#34;1&#34;&gt;" in html  # the numeric feature's name in the table


def test_gate_page_escapes_slice_names_and_reasons() -> None:
    report = GateReport(
        model="m<1>",
        version="2",
        champion_version=None,
        passed=False,
        reasons=[SCRIPT],
        holdout_rows=10,
        confidence=0.95,
        metrics=[],
        slices=[
            {
                "slice": "segment=<script>",
                "rows": 5,
                "status": "regressed",
                "note": "<i>",
            }
        ],
        window="<w>",
    )
    html = to_html(report)
    assert "<script" not in html and "<i>" not in html and "<w>" not in html
    assert "segment=&lt;script&gt;" in html and "m&lt;1&gt;" in html
    assert '<td class="fail">regressed (&lt;i&gt;)</td>' in html


def test_an_undefined_field_fails_instead_of_rendering_empty() -> None:
    s = summary(0, [feature("x", 0.1)])
    del s["n_rows"]
    with pytest.raises(jinja2.UndefinedError):
        render_html(s, None, title="t")
    with pytest.raises(jinja2.UndefinedError):
        render("gate/report.html", title="t", tables=[])


def test_jinja2_is_imported_only_to_render() -> None:
    code = (
        "import sys, opsloop.monitor.report, opsloop.gate.report, opsloop.templates.svg; "
        "print('jinja2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_templates_are_package_data() -> None:
    root = resources.files("opsloop") / "templates"
    names = {
        "base.html",
        "base.css",
        "macros.html",
        "monitor/report.html",
        "monitor/sections.html",
        "gate/report.html",
        "gate/gate.css",
    }
    for name in names:
        assert (root / name).is_file(), name


def test_compiled_templates_are_cached_and_a_bad_cache_is_only_a_miss(tmp_path: Path) -> None:
    from opsloop.templates import bytecode_cache, environment

    def page(cache: jinja2.BytecodeCache | None) -> str:
        env = jinja2.Environment(loader=environment().loader, autoescape=True, bytecode_cache=cache)
        env.filters.update(environment().filters)
        return env.get_template("macros.html").render()

    expected = page(None)
    assert page(bytecode_cache(str(tmp_path))) == expected
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1  # the compiled template
    entries[0].write_bytes(entries[0].read_bytes()[:40])  # a truncated entry
    assert page(bytecode_cache(str(tmp_path))) == expected
    assert page(bytecode_cache(str(tmp_path / "missing"))) == expected  # cannot write: a miss
