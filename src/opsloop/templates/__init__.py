"""HTML pages rendered from the Jinja2 templates shipped in this package, shared by every
report (and the dashboard): a base layout with inline CSS (`base.html`, `base.css`), small
macros (`macros.html`) and inline-SVG charts (`opsloop.templates.svg`, passed to the
templates as markup). Pages are single self-contained files: no scripts, no URLs.

Autoescaping is on for every template, so anything a user controls (feature, category,
model and metric names, notes) is escaped; chart SVG built by `svg` escapes its own text
and is marked safe with `safe_svg`. Undefined names fail (`StrictUndefined`): a template
reads an optional field as `x.y|default(none)`. Fields are read as `x.y`, which works for
dicts and objects alike. Jinja2 is imported when the first page is rendered. Compiled
templates are cached like Python's own bytecode (Jinja2's `FileSystemBytecodeCache`, in its
per-user directory of the system's temporary folder, keyed by the template's source): a
report page costs ~50 ms of compiling the first time, ~5 ms afterwards; a cache that
cannot be read or written is skipped.

    layout:   base.html (blocks: title, style, body), base.css
    monitor:  monitor/report.html     (`opsloop.monitor.report.render_html`)
    gate:     gate/report.html, gate/gate.css   (`opsloop.gate.report.to_html`)
    backtest: backtest/report.html    (`opsloop.backtest.report.render_html`)
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup


def num(value: float | None, digits: int = 3) -> str:
    """A number with `digits` significant digits, "—" for None."""
    return "—" if value is None else f"{value:.{digits}g}"


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers (and None) as `num`; anything else as its text (escaped by the template)."""
    return num(value, digits) if value is None or isinstance(value, int | float) else str(value)


def when(iso: Any, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO timestamp as `pattern`; anything else as its text."""
    try:
        return datetime.fromisoformat(str(iso)).strftime(pattern)
    except ValueError:
        return str(iso)


def signed(value: Any) -> str:
    """A change with its sign (4 significant digits), "—" when not a number."""
    return "—" if not isinstance(value, int | float) else f"{value:+.4g}"


def spec(value: Any, format_spec: str) -> str:
    """Python's `format(value, format_spec)` (e.g. ".0%", "+.4f")."""
    return format(value, format_spec)


def bytecode_cache(directory: str | None = None) -> jinja2.BytecodeCache | None:
    """Jinja2's file cache of compiled templates, failing soft: a missing or read-only
    folder, or a damaged entry, only costs the compilation."""
    import pickle

    import jinja2

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return Cache(directory)
    except (OSError, RuntimeError):  # no safe per-user folder
        return None


@cache
def environment() -> jinja2.Environment:
    """The shared environment: templates from this package, autoescape on everywhere."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("opsloop", "templates"),
        bytecode_cache=bytecode_cache(),
        autoescape=jinja2.select_autoescape(default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=fmt, when=when, signed=signed, spec=spec)
    return env


def safe_svg(svg: str) -> Markup:
    """Chart markup from `opsloop.templates.svg` (which escapes its own text) for a template."""
    from markupsafe import Markup

    return Markup(svg)  # built by svg.py, which escapes every text in it


def render(name: str, **context: Any) -> str:
    """The template `name` (e.g. "monitor/report.html") rendered with `context`."""
    return environment().get_template(name).render(**context)
