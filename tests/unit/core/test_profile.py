"""Profiles: JSON round-trip, old-format error, and the merge property (NumPy engine)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.core.profile import (
    Profile,
    compute_profile,
    merge,
    merge_all,
    profile_frame,
)
from opsloop.core.sketch import SketchLayout, quantile
from opsloop.data.features import FeatureSpec
from opsloop.errors import ProfileFormatError

NUM = FeatureSpec("x", "numeric", "float64")
CAT = FeatureSpec("c", "categorical", "string")
FLAG = FeatureSpec("b", "boolean", "bool")


def reference() -> Profile:
    rng = np.random.default_rng(0)
    n = 500
    return compute_profile(
        pd.DataFrame(
            {
                "x": rng.normal(3, 2, n),
                "c": rng.choice(["a", "b", "c", "d"], n),
                "b": rng.random(n) < 0.3,
            }
        ),
        [NUM, CAT, FLAG],
    )


def test_profile_round_trips_json() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0] * 50, "c": ["a", "b", None, "a"] * 50})
    profile = compute_profile(df, [NUM, CAT])
    again = Profile.from_json(profile.to_json())
    assert again == profile
    x = again.features["x"]
    assert (x.count, x.null_count, sum(x.counts), sum(x.sketch.values())) == (200, 50, 150, 150)
    assert len(x.counts) == len(x.edge_keys) + 2 and x.min == 1.0 and x.max == 4.0
    assert x.mean == pytest.approx(7 / 3) and x.std == pytest.approx(np.std([1, 2, 4]))
    c = again.features["c"]
    assert c.categories == ["a", "b"] and c.counts == [100, 50, 0] and c.known == ["a", "b"]


def test_old_format_asks_to_retrain() -> None:
    old = json.dumps(
        {
            "n_rows": 3,
            "features": {"x": {"name": "x", "kind": "numeric", "count": 3, "null_count": 0}},
        }
    )
    with pytest.raises(ProfileFormatError, match="retrain"):
        Profile.from_json(old)


def test_unseen_and_other_categories_counted() -> None:
    ref = reference()
    cur = pd.DataFrame({"c": ["a", "zz", "zz", None, "b"]})
    c = profile_frame(cur, ref).features["c"]
    assert c.unseen == 2 and c.counts[-1] == 2 and c.null_count == 1 and sum(c.counts) == 4


def test_sketch_quantiles_within_relative_accuracy() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, 20_000)
    layout = SketchLayout.from_values(x)
    counts = dict(zip(*np.unique(layout.index(x), return_counts=True), strict=True))
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        exact = float(np.quantile(x, q))
        # the value lies in the bucket of the exact quantile: within 2α of its distance from
        # the center (bucket width), or the zero bucket's 2·z_min
        tol = 2 * 0.0101 * abs(exact - layout.center) + 2e-3 * layout.scale
        assert abs(quantile(layout, counts, q) - exact) <= tol + 1e-12


values = st.lists(
    st.floats(-1e6, 1e6) | st.none() | st.just(float("nan")), min_size=1, max_size=200
)


@settings(max_examples=80, deadline=None)
@given(
    xs=values,
    cats=st.lists(st.sampled_from(["a", "b", "c", "d", "zz", None]), min_size=1, max_size=200),
    cut=st.integers(0, 200),
)
def test_merging_partitions_equals_profiling_the_whole(
    xs: list[float | None], cats: list[str | None], cut: int
) -> None:
    ref = reference()
    n = min(len(xs), len(cats))
    df = pd.DataFrame(
        {
            "x": pd.Series(xs[:n], dtype=float),
            "c": pd.Series(cats[:n], dtype=object),
            "b": [i % 3 == 0 for i in range(n)],
        }
    )
    k = min(cut, n)
    whole = profile_frame(df, ref)
    merged = merge(profile_frame(df.iloc[:k], ref), profile_frame(df.iloc[k:], ref))
    assert (
        merge_all(ref, [profile_frame(df.iloc[:k], ref), profile_frame(df.iloc[k:], ref)]).n_rows
        == whole.n_rows
        == merged.n_rows
    )
    for name, w in whole.features.items():
        m = merged.features[name]
        # counts add exactly; float sums differ only by rounding order
        assert (m.count, m.null_count, m.counts, m.sketch, m.unseen, m.min, m.max) == (
            w.count,
            w.null_count,
            w.counts,
            w.sketch,
            w.unseen,
            w.min,
            w.max,
        )
        assert m.sum == pytest.approx(w.sum, rel=1e-9, abs=1e-3)
        assert m.sum_sq == pytest.approx(w.sum_sq, rel=1e-9, abs=1e-3)
        assert sum(w.counts) + w.null_count == w.count == n


def test_profiles_on_different_layouts_do_not_merge() -> None:
    a = reference()
    b = compute_profile(
        pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["q", "r", "q"], "b": [True, False, True]}),
        [NUM, CAT, FLAG],
    )
    with pytest.raises(ValueError, match="same reference"):
        merge(a, b)


def test_reference_keeps_a_seeded_bounded_sample() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"x": rng.normal(size=12_000), "c": rng.choice(["a", "b"], 12_000)})
    df.loc[:9, "x"] = [np.inf, -np.inf, np.nan] * 3 + [np.nan]
    first, again = compute_profile(df, [NUM, CAT]), compute_profile(df, [NUM, CAT])
    sample = first.features["x"].sample
    assert sample is not None and len(sample) == 5000 and sample == again.features["x"].sample
    assert sample == sorted(sample) and np.isfinite(sample).all()
    assert set(sample) <= set(df["x"].to_numpy()) and first.features["c"].sample is None
    small = compute_profile(df.head(300), [NUM]).features["x"].sample
    assert small is not None and len(small) == 290  # every finite value
    assert Profile.from_json(first.to_json()) == first


def test_windows_and_merges_carry_no_sample() -> None:
    ref = reference()
    a = profile_frame(pd.DataFrame({"x": [1.0, 2.0]}), ref)
    assert a.features["x"].sample is None and ref.empty().features["x"].sample is None
    assert merge(ref, ref).features["x"].sample is None
    assert "sample" not in a.features["x"].to_dict()


def test_type_errors_and_newest_merge() -> None:
    ref = reference()
    t0 = pd.Timestamp("2026-05-01T10:00:00Z")
    a = profile_frame(
        pd.DataFrame(
            {
                "x": pd.Series(["1.5", "abc", None, "1_000", ""], dtype=object),
                "b": pd.Series([True, "yes", None, False, "true"], dtype=object),
                "ts": [t0] * 5,
            }
        ),
        ref,
    )
    x = a.features["x"]
    assert (x.type_errors, x.null_count, x.non_null, x.max) == (2, 3, 2, 1000.0)
    assert a.features["b"].type_errors == 1  # "yes"; "true" is the text of a boolean
    b = profile_frame(pd.DataFrame({"x": [np.nan, 2.0], "ts": [t0 + pd.Timedelta("1h")] * 2}), ref)
    both = merge(a, b)
    assert both.features["x"].type_errors == 2 and both.newest == b.newest
    assert both.newest is not None and both.newest.tzinfo is not None
    assert Profile.from_json(both.to_json()) == both


def test_profiles_without_the_newer_fields_still_load() -> None:
    """A format-2 profile stored before type errors, samples and `newest` existed (and one
    with a field from a later opsloop) loads: the fields take their defaults."""
    data = json.loads(reference().to_json())
    for fp in data["features"].values():
        del fp["type_errors"]
        fp.pop("sample", None)
        fp["a_later_field"] = 1
    old = Profile.from_json(json.dumps(data))
    assert old.features["x"].sample is None and old.features["x"].type_errors == 0
    assert old.newest is None


def test_any_feature_with_a_name_and_kind_profiles_like_a_feature_spec() -> None:
    """The core layer does not import `opsloop.data`: it takes whatever has `name` and `kind`."""
    from typing import NamedTuple

    class Feature(NamedTuple):
        name: str
        kind: str

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(0, 1, 300), "c": rng.choice(["a", "b"], 300)})
    plain = compute_profile(df, [Feature("x", "numeric"), Feature("c", "categorical")])
    assert plain == compute_profile(df, [NUM, CAT])
    assert plain.features["x"].kind == "numeric" and plain.features["x"].sample


def test_aligned_sketches_equal_the_plain_loop() -> None:
    """`aligned` (vectorised) gives what a loop over the sorted union of keys gives."""
    import numpy as np

    from opsloop.core.sketch import aligned

    rng = np.random.default_rng(1)
    for _ in range(50):
        a = {int(k): int(rng.integers(1, 99)) for k in rng.integers(-3000, 3000, 200)}
        b = {int(k): int(rng.integers(1, 99)) for k in rng.integers(-3000, 3000, 30)}
        keys = np.asarray(sorted(set(a) | set(b)), dtype=np.int64)
        expected = (keys, [float(a.get(int(k), 0)) for k in keys], [b.get(int(k), 0) for k in keys])
        found = aligned(a, b) if len(b) % 2 else aligned(a, {})
        if not len(b) % 2:
            expected = (np.asarray(sorted(a)), [float(a[k]) for k in sorted(a)], [0.0] * len(a))
        assert [list(x) for x in found] == [list(x) for x in expected]
        assert found[0].dtype == np.int64 and found[1].dtype == float


def test_aligned_on_empty_and_single_keys() -> None:
    from opsloop.core.sketch import aligned

    assert [list(x) for x in aligned({}, {})] == [[], [], []]
    assert [list(x) for x in aligned({5: 1}, {})] == [[5], [1.0], [0.0]]
    assert [list(x) for x in aligned({}, {-5: 2})] == [[-5], [0.0], [2.0]]
    assert [list(x) for x in aligned({5: 1}, {5: 2})] == [[5], [1.0], [2.0]]


def test_aligned_does_not_import_numpy_ma() -> None:
    """`np.union1d` would, through `np.unique` (~20 ms of every `opsloop drift`)."""
    import subprocess
    import sys

    code = (
        "import sys; from opsloop.core.sketch import aligned; "
        "aligned({1: 2, 3: 4}, {2: 1, 3: 1}); print('numpy.ma' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
