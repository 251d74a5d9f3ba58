"""The base of the stored-JSON records in `opsloop.core`: frozen pydantic models that keep
unknown keys and give back exactly the JSON they were read from (`Model.to_json`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self, TypeAlias, overload

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)


def _plain_number(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (np.int64(3) → 3, not 3.0)."""
    if not isinstance(value, int | float) and callable(getattr(value, "item", None)):
        return value.item()
    return value


# A number that keeps its type through a round trip: an int stays an int (1 is not 1.0).
Num: TypeAlias = Annotated[int | float, BeforeValidator(_plain_number)]


class Model(BaseModel):
    """A frozen record read from stored JSON; unknown keys are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    _order: tuple[str, ...] = PrivateAttr(default=())  # the keys as read, in their order

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        out = handler(data)
        if isinstance(data, Mapping) and isinstance(out, Model):
            out._order = tuple(str(k) for k in data)
        return out

    @model_serializer(mode="wrap")
    def _in_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        if not self._order:
            return out
        first = {k: out[k] for k in self._order if k in out}
        return {**first, **{k: v for k, v in out.items() if k not in first}}

    @overload
    @classmethod
    def parse(cls, data: Mapping[str, Any] | Self) -> Self: ...
    @overload
    @classmethod
    def parse(cls, data: None) -> None: ...
    @classmethod
    def parse(cls, data: Mapping[str, Any] | Self | None) -> Self | None:
        """`data` as this model; None stays None (a key absent from older summaries)."""
        if data is None or isinstance(data, cls):
            return data
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """The JSON this record was read from (or built as): set keys only."""
        return self.model_dump(mode="python", exclude_unset=True)
