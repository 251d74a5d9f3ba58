"""What the dashboard shows: one entry per model (its read service, how to get its admin
service, where its reports live) and the settings of the whole site."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opsloop.errors import NotFoundError

if TYPE_CHECKING:
    from opsloop.runtime import Runtime
    from opsloop.services import AdminService, ReadService


@dataclass
class UIModel:
    """One model's services. `admin` builds the write side on first use (it opens the
    registry: only actions need it); None makes the model read-only here."""

    reads: ReadService
    admin: Callable[[], AdminService] | None = None
    home: Path | None = None  # the project's .opsloop folder (monitoring reports live under it)
    mlflow_ui: str | None = None  # base URL of the MLflow UI, for links to runs
    _admin: AdminService | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.reads.model

    def admin_service(self) -> AdminService:
        if self._admin is None:
            if self.admin is None:
                from opsloop.errors import StateError

                raise StateError(
                    f"the dashboard cannot act on {self.name!r}: it was started read-only",
                    fix="start it with `opsloop ui` in the model's project folder",
                )
            self._admin = self.admin()
        return self._admin


@dataclass
class UISite:
    models: list[UIModel]
    admin_token: str | None = None
    public_read: bool = False
    session_hours: float = 12.0
    prefix: str = "/ui"
    secure_cookie: bool = False  # set the cookies' Secure flag (behind HTTPS)

    def model(self, name: str) -> UIModel:
        for m in self.models:
            if m.name == name:
                return m
        raise NotFoundError(
            f"the dashboard does not show a model named {name!r}",
            fix=f"pick one of: {', '.join(m.name for m in self.models)}",
        )


def model_from_runtime(rt: Runtime) -> UIModel:
    """A model's entry from its Runtime: reads on its ops store, actions through an
    `AdminService` over it (the registry opens on the first action)."""
    from opsloop.runtime import resolve_stack
    from opsloop.services import AdminService, ReadService
    from opsloop.store.reader import open_reader

    stack = resolve_stack(rt.config, rt.paths)
    # Pages read the runtime's store (open, so created and migrated) through the DB-API
    # reader when it has one: a query costs a fraction of SQLAlchemy's and the overview
    # makes ~20 a model. The same StoreReads port, held equal to OpsStore's by
    # tests/unit/store/test_reader.py; an in-memory store has none and is read as is.
    return UIModel(
        reads=ReadService(open_reader(rt.store.url) or rt.store, rt.config),
        admin=lambda: AdminService(rt),
        home=rt.paths.home,
        mlflow_ui=mlflow_base(stack.tracking_uri, rt.config.ui.mlflow_ui),
    )


def mlflow_base(tracking_uri: str | None, configured: str | None) -> str | None:
    """The MLflow UI's base URL: `ui.mlflow_ui`, else an http(s) tracking URI, else None
    (a local SQLite store has no UI to link to)."""
    if configured:
        return configured.rstrip("/")
    if tracking_uri and tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return None
