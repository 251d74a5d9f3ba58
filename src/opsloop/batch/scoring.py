"""Scoring Arrow record batches with one loaded version, by the fastest path it is proven
to answer the same on.

When the version's registration verified its compiled pipeline (tag
`opsloop.inference_path` = `compiled`), the compiled path is checked again on probe rows at
load, as the server does (the libraries may have changed since), and scores the columns
straight from Arrow: numbers as float64 arrays (nulls as NaN), text and booleans as
`Coded` columns (Arrow's dictionary: each distinct value once, an index per row, so the
encoders look a value up once per batch, not once per row), no DataFrame. Otherwise the
model's own `predict`/`predict_proba` runs on a DataFrame of the same columns
(`inference.verify.frame_of`, the frame the verification compares against)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from opsloop.errors import DataValidationError
from opsloop.inference import PATH_TAG, CompiledPipeline, verified_compilation
from opsloop.inference.compiled import Coded
from opsloop.inference.verify import frame_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pyarrow as pa

    from opsloop.batch.rankrun import RankedRun
    from opsloop.registry.base import LoadedModel


@dataclass(frozen=True)
class ArrowScorer:
    model: LoadedModel
    compiled: CompiledPipeline | None
    reason: str

    @property
    def path(self) -> Literal["compiled", "frame"]:
        return "frame" if self.compiled is None else "compiled"

    def columns(self, batch: pa.RecordBatch) -> dict[str, np.ndarray | Coded]:
        """The features of `batch` as the compiled path takes them; a null in a feature
        trained without nulls is a DataValidationError (the server answers it with 422)."""
        out: dict[str, np.ndarray | Coded] = {}
        for spec in self.model.features:
            col = batch.column(spec.name)
            if not spec.nullable and col.null_count:
                raise DataValidationError(
                    f"the feature {spec.name!r} has {col.null_count} missing value(s) in a "
                    f"batch of {batch.num_rows} rows; version {self.model.version} was trained "
                    "without missing values in it",
                    expected="a value in every row",
                    fix=f"fill or filter them, e.g. sql:SELECT * FROM … WHERE {spec.name} "
                    "IS NOT NULL",
                )
            out[spec.name] = _array(col, numeric=spec.kind == "numeric")
        return out

    def predict(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray | None]:
        n = batch.num_rows
        columns = self.columns(batch)
        with np.errstate(all="ignore"):
            if self.compiled is not None:
                x = self.compiled.transform(columns, n)
                return self.model.predict_features(self.compiled.estimator, x)
            dense = {k: v.decode() if isinstance(v, Coded) else v for k, v in columns.items()}
            return self.model.predict_frame(frame_of(self.model, dense, n))


class InferencePath(Protocol):
    """How a run's rows were scored, as its record says: `ArrowScorer` (compiled or
    frame) or a ranking run's recommender (`batch/ranking.py`)."""

    @property
    def path(self) -> str: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class Scored:
    """What a batch prediction's scoring step wrote (either engine): rows written, the run
    folder, its data files, the rows added to the log, the scorer used, the renames
    that make the hidden files visible — applied only after the run is recorded
    (`sinks.apply_renames`; the record is the commit point) — and, for a ranking run,
    its users and context (`rankrun.RankedRun`)."""

    rows: int
    output: Path
    files: int
    log_rows: int
    scorer: InferencePath
    renames: list[tuple[str, str]]
    ranking: RankedRun | None = None

    @property
    def staged(self) -> Path:
        """The hidden run folder (the first rename's source: both engines put it first)."""
        return Path(self.renames[0][0])


def _array(col: pa.Array | pa.ChunkedArray, *, numeric: bool) -> np.ndarray | Coded:
    import pyarrow as pa
    import pyarrow.compute as pc

    if numeric:
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if col.type != pa.float64():
            col = pc.cast(col, pa.float64())
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
    # text: each distinct value becomes one Python object (null: None, as scikit-learn
    # sees it in an object column), the rows its indices
    encoded = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    distinct = np.empty(len(encoded.dictionary) + 1, dtype=object)  # the last one: null
    distinct[:-1] = encoded.dictionary.to_numpy(zero_copy_only=False)
    index = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return Coded(distinct, index)


def plain(values: np.ndarray) -> Any:
    """Predictions as Arrow takes them (object arrays of numbers stay numbers)."""
    arr = np.asarray(values)
    return arr.tolist() if arr.dtype == object else arr


def scorer_for(model: LoadedModel, tags: Mapping[str, str]) -> ArrowScorer:
    """The version's scorer: compiled when registration verified it and it still answers
    like the model on probe rows, else the model's own DataFrame path and why."""
    if tags.get(PATH_TAG) != "compiled":
        return ArrowScorer(model, None, "registration did not verify a compiled path")
    compiled, reason = verified_compilation(model)
    return ArrowScorer(model, compiled, reason)
