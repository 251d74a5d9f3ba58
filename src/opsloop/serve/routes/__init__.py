"""Thin HTTP routers over the services, one per protocol:

- `oip`: Open Inference Protocol v2 REST (`/v2/...`)
- `scoring`: MLflow's scoring protocol (`/invocations`)
- `native`: opsloop's own routes (`/predict`, `/metrics`)
- `admin`: the management API (`/api/...`) over `opsloop.services`

Each decodes its protocol's body (serve/inputs.py) and shapes the answer; what a prediction
does is `PredictionService.answer` (serve/service.py). The prediction routes are added to the
app itself (`add_*_routes`): an included `APIRouter` costs every request one more level of
route matching in FastAPI. The admin routes are an `APIRouter` included after them.
"""
