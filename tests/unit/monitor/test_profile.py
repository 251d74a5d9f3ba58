from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.data.features import FeatureSpec
from opsloop.monitor.profile import OTHER, Profile, bin_counts, compute_profile, merge_counts

NUM = FeatureSpec("x", "numeric", "float64")
CAT = FeatureSpec("c", "categorical", "string")


def test_profile_round_trips_json() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, np.nan, 4.0] * 50, "c": ["a", "b", None, "a"] * 50})
    profile = compute_profile(df, [NUM, CAT])
    again = Profile.from_json(profile.to_json())
    assert again == profile
    x = again.features["x"]
    assert (x.count, x.null_count, sum(x.counts)) == (200, 50, 150)
    assert len(x.counts) == len(x.edges) + 1 and len(x.quantiles) == 1000
    c = again.features["c"]
    assert c.categories[-1] == OTHER and sum(c.counts) == 150


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6) | st.none(), min_size=2, max_size=300),
       cats=st.lists(st.sampled_from(["a", "b", "c", "zz"]), min_size=2, max_size=300),
       cut=st.integers(0, 300))
def test_partition_counts_merge_by_addition(values: list[float | None], cats: list[str],
                                            cut: int) -> None:
    ref = compute_profile(pd.DataFrame({"x": [1.0, 5.0, 9.0, 2.0, 7.0] * 10,
                                        "c": ["a", "b"] * 25}), [NUM, CAT])
    x = pd.Series(values, dtype=float)
    c = pd.Series(cats, dtype=object)
    for feature, series in (("x", x), ("c", c)):
        fp = ref.features[feature]
        k = min(cut, len(series))
        whole, whole_nulls = bin_counts(fp, series)
        a, a_nulls = bin_counts(fp, series.iloc[:k])
        b, b_nulls = bin_counts(fp, series.iloc[k:])
        assert merge_counts([a, b]) == whole
        assert a_nulls + b_nulls == whole_nulls
        assert sum(whole) + whole_nulls == len(series)
