"""Label values against the target's contract: classes, regression numbers, missing ids,
repeated ids, the unambiguous normalisations, and one error with counts and examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.data.labels import (
    LabelContract,
    LabelValidationError,
    ValidLabels,
    validate_labels,
)
from opsloop.errors import InvalidInputError

BINARY = LabelContract("binary_classification", (0, 1), version="3")


def check(ids: list[object], ys: list[object], contract: LabelContract, **kw: bool) -> ValidLabels:
    return validate_labels(
        pd.DataFrame({"id": ids, "y": ys}), contract, id_column="id", target="y", **kw
    )


def test_a_value_outside_the_classes_rejects_the_file_with_counts_and_examples() -> None:
    with pytest.raises(LabelValidationError) as info:
        check(["a", "b", "c", "d"], [1, "yes", 0, "no"], BINARY)
    err = info.value
    assert isinstance(err, InvalidInputError)
    assert err.what == "2 of 4 label rows are invalid; nothing was stored"
    assert "one of the classes of version 3 [0, 1]" in str(err.expected)
    assert err.got is not None and err.got.startswith(
        "2 × label not one of the classes of version 3 [0, 1]"
    )
    assert "row 2: id='b' y='yes'" in err.got and "row 4: id='d' y='no'" in err.got
    assert err.fix is not None and "--skip-invalid" in err.fix


def test_examples_are_capped_at_three_per_reason() -> None:
    with pytest.raises(LabelValidationError) as info:
        check([f"i{k}" for k in range(10)], ["x"] * 10, BINARY)
    assert info.value.got is not None
    assert info.value.got.count("y='x'") == 3 and "10 × label not" in info.value.got


def test_binary_strings_booleans_and_floats_are_normalised_to_the_classes() -> None:
    valid = check(["a", "b", "c", "d", "e", "f"], ["1", "0", True, 0.0, "false", " 1 "], BINARY)
    assert valid.frame["label"].tolist() == [1, 0, 1, 0, 0, 1]
    assert valid.frame["label"].dtype == "int64"
    assert valid.frame["prediction_id"].tolist() == ["a", "b", "c", "d", "e", "f"]
    flags = LabelContract("binary_classification", (False, True))
    assert check([1, 2, 3], [1, "true", "False"], flags).frame["label"].tolist() == [
        True,
        True,
        False,
    ]


def test_string_classes_match_exactly_not_by_case() -> None:
    classes = LabelContract("multiclass_classification", ("cat", "dog"))
    assert check([1, 2], ["cat", " dog"], classes).frame["label"].tolist() == ["cat", "dog"]
    with pytest.raises(LabelValidationError, match="1 of 1 label rows"):
        check([1], ["Cat"], classes)
    two = LabelContract("binary_classification", ("no", "yes"))
    with pytest.raises(LabelValidationError):
        check([1], [1], two)  # 1 is not "yes": ambiguous, not guessed


def test_regression_needs_finite_numbers() -> None:
    reg = LabelContract("regression")
    valid = check([1, 2, 3], ["1.5", 2, -3e3], reg)
    assert valid.frame["label"].tolist() == [1.5, 2.0, -3000.0]
    assert valid.frame["label"].dtype == "float64"
    with pytest.raises(LabelValidationError) as info:
        check([1, 2, 3, 4], ["abc", True, float("inf"), 4], reg)
    assert info.value.got is not None
    assert info.value.got.startswith("3 × label not a finite number (regression)")


def test_missing_ids_and_labels_are_counted_apart() -> None:
    with pytest.raises(LabelValidationError) as info:
        check(["a", None, "c", "d"], [1, 0, None, 1], BINARY)
    got = info.value.got or ""
    assert "1 × missing id" in got and "1 × missing label" in got


def test_repeated_ids_kept_once_when_they_agree_rejected_when_they_differ() -> None:
    agree = check(["a", "a", "b"], [1, "1", 0], BINARY)
    assert agree.frame["prediction_id"].tolist() == ["a", "b"] and agree.duplicates == 1
    with pytest.raises(LabelValidationError) as info:
        check(["a", "a", "b"], [1, 0, 0], BINARY)
    got = info.value.got or ""
    assert "2 × id repeated with different labels" in got
    # numeric ids are ids by their text: 7 and "7" are the same prediction
    assert check([7, "7"], [1, 1], BINARY).duplicates == 1


def test_skip_invalid_keeps_the_valid_rows_and_counts_the_rest() -> None:
    valid = check(["a", None, "c", "c", "d"], [1, 1, 0, 1, "maybe"], BINARY, skip_invalid=True)
    assert valid.frame["prediction_id"].tolist() == ["a"]
    assert valid.rejected == 4
    assert valid.reasons == {
        "missing id": 1,
        "id repeated with different labels": 2,
        "label not one of the classes of version 3 [0, 1]": 1,
    }
    with pytest.raises(LabelValidationError, match="no valid row"):
        check(["a"], ["maybe"], BINARY, skip_invalid=True)


def test_without_recorded_classes_any_value_is_kept_as_given() -> None:
    unknown = LabelContract("binary_classification")
    valid = check(["a", "b"], ["yes", "no"], unknown)
    assert valid.frame["label"].tolist() == ["yes", "no"]
    assert "no trained version recorded the classes" in unknown.describe()
    older = LabelContract("binary_classification", version="2")  # trained before classes
    assert older.describe() == "any non-empty value (version 2 recorded no classes: retrain)"


def test_stored_labels_that_do_not_fit_are_left_out_and_counted() -> None:
    from opsloop.data.labels import usable_labels

    stored = pd.Series(["0", "1", "banana", "1.0", None, "banana", "2"]).dropna()
    found = usable_labels(stored, LabelContract("binary_classification", (0, 1)))
    assert found.unusable == 3 and found.examples == ("'banana'", "'2'")
    assert found.labels.tolist() == [0, 1, 1] and found.labels.dtype == "int64"
    assert list(found.labels.index) == [0, 1, 3]
    assert usable_labels(pd.Series([1.5, float("inf")]), LabelContract("regression")).unusable == 1


@pytest.mark.parametrize(
    "values", [[0, 1, 1], [0.0, 1.0, 1.0], np.array([0, 1, 1], dtype="int32"), [0, 1, 2]]
)
def test_numeric_labels_fast_path_keeps_what_the_general_path_keeps(
    values: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloop.data import labels as module

    contract = LabelContract("binary_classification", (0, 1), "1")
    stored = pd.Series(values, index=[5, 7, 9], name="label")
    fast = module.usable_labels(stored, contract)
    monkeypatch.setattr(module, "_plain_numbers", lambda *_: None)
    general = module.usable_labels(stored, contract)
    assert (fast.unusable, fast.examples) == (general.unusable, general.examples)
    pd.testing.assert_series_equal(fast.labels, general.labels)
