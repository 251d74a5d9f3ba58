"""The dashboard: server-rendered pages over the application services (`opsloop.services`),
so every number on a page is the one `opsloop status --json` and `/api` give.

    site.py    UIModel (a model's services), UISite (the models and the settings)
    auth.py    signed session cookies (HttpOnly, SameSite=Strict) and CSRF tokens
    pages.py   what each page shows, built from the services' typed views
    routes.py  the pages (GET) and the actions (POST: approve, reject, promote, abort,
               roll back, retrain) with the logged-in actor
    app.py     `opsloop ui` (its own app) and `add_ui` (mounted by `opsloop serve`)

Templates are under opsloop/templates/ui/ (the reports' layout, macros and SVG charts); no
script, font or stylesheet is fetched from anywhere.
"""

from __future__ import annotations

from opsloop.ui.site import UIModel, UISite, mlflow_base, model_from_runtime

__all__ = ["UIModel", "UISite", "mlflow_base", "model_from_runtime"]
