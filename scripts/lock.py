"""Write requirements.lock: the exact versions of opsloop's dependencies (with the `dev`
and `spark` extras), as installed in this environment, and nothing else.

    .venv/bin/python scripts/lock.py            # rewrite requirements.lock
    .venv/bin/python scripts/lock.py --check    # exit 1 if it is out of date

The closure is walked from opsloop's own requirements through each installed
distribution's requirements (markers evaluated for this interpreter, extras followed), so
packages installed by hand into the same environment are left out. scripts/setup.sh
installs with `pip install -c requirements.lock`; scripts/test.sh audits it with pip-audit.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
EXTRAS = ("dev", "spark")  # what scripts/setup.sh installs
HEADER = (
    "# The exact versions a fresh install of opsloop[dev,spark] resolved (scripts/lock.py).\n"
    "# Used as pip constraints by scripts/setup.sh; audited by pip-audit in scripts/test.sh.\n"
)


def project_requirements(*extras: str) -> list[Requirement]:
    """opsloop's own requirements and its `extras`', from pyproject.toml (not from the
    installed metadata, which may be older)."""
    import tomllib

    project = tomllib.loads((LOCK.parent / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    texts = [*project["dependencies"], *(t for e in extras for t in optional[e])]
    return [Requirement(t) for t in texts]


def closure(roots: list[Requirement]) -> dict[str, str]:
    found: dict[str, str] = {}
    todo = [(r.name, frozenset(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency not installed here
        found[canonicalize_name(dist.metadata["Name"])] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return dict(sorted(found.items()))


def render() -> str:
    pins = closure(project_requirements(*EXTRAS))
    return HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not LOCK.is_file() or LOCK.read_text() != text:
            print("requirements.lock is out of date: run scripts/lock.py", file=sys.stderr)
            return 1
        return 0
    LOCK.write_text(text)
    print(f"wrote {LOCK} ({text.count(chr(10)) - 2} packages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
