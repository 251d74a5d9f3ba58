"""The `multivariate` summary key as `opsloop monitor` and `opsloop status` print it."""

from __future__ import annotations

from opsloop.cli.render import multivariate_line


def test_multivariate_line() -> None:
    breach = {
        "method": "pca_reconstruction",
        "value": 2.5,
        "lower": 1.0,
        "upper": 1.2,
        "drifted": True,
        "n": 500,
        "components": 3,
    }
    assert (
        multivariate_line(breach) == "error 2.5000 in [1.0000, 1.2000] → [red]outside the band[/]"
    )
    quiet = {**breach, "value": 1.1, "drifted": False}
    assert multivariate_line(quiet).endswith("inside the band")
    assert (
        multivariate_line({**breach, "value": None, "upper": None, "n": 3}) == "not judged (3 rows)"
    )
