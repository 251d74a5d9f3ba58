"""Synthetic customer churn with a controllable drift scenario.

Each row is a customer event: 10 numeric and 5 categorical features, an id, an event time
and `churned` (0/1) drawn from a logistic model of the features (base rate ≈ 25%).

`drift` in [0, 1] scales a realistic story linearly:
- **covariate shift**: a price rise and a cheaper competitor bring more month-to-month
  contracts, higher monthly charges, shorter tenure, more support calls and more customers
  in the `south` region;
- **concept change**: the competitor operates in the `south`, so living there now drives
  churn; support calls matter much more; and price sensitivity flips sign among the
  customers who stay (high payers are now the loyal premium ones).
A model trained before the change loses accuracy after it; one retrained on recent data
recovers (tests/unit/examples/test_churn.py checks both).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

ID = "customer_id"
TIME = "event_time"
TARGET = "churned"
FEATURES_NUMERIC = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "data_usage_gb",
    "num_products",
    "days_since_last_login",
    "avg_session_minutes",
    "payment_delays",
    "age",
)
FEATURES_CATEGORICAL = ("contract", "payment_method", "internet_service", "region", "plan_tier")


def _choice(rng: np.random.Generator, options: list[str], p: list[float], n: int) -> np.ndarray:
    probs = np.asarray(p, dtype=float)
    return rng.choice(np.asarray(options, dtype=object), size=n, p=probs / probs.sum())


def generate(
    n_rows: int,
    start: datetime,
    end: datetime,
    *,
    drift: float = 0.0,
    seed: int = 0,
    id_prefix: str = "c",
) -> pd.DataFrame:
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1], got {drift}")
    rng = np.random.default_rng(seed)
    n = n_rows
    d = drift
    contract = _choice(
        rng,
        ["month-to-month", "one_year", "two_year"],
        [0.45 + 0.25 * d, 0.30 - 0.1 * d, 0.25 - 0.15 * d],
        n,
    )
    payment = _choice(
        rng,
        ["card", "bank_transfer", "electronic_check", "mailed_check"],
        [0.35, 0.25, 0.3 + 0.1 * d, 0.1],
        n,
    )
    internet = _choice(rng, ["fiber", "dsl", "none"], [0.45 + 0.1 * d, 0.4 - 0.1 * d, 0.15], n)
    region = _choice(
        rng,
        ["north", "south", "east", "west"],
        [0.3 - 0.1 * d, 0.2 + 0.3 * d, 0.25 - 0.1 * d, 0.25 - 0.1 * d],
        n,
    )
    tier = _choice(rng, ["basic", "standard", "premium"], [0.4, 0.4, 0.2], n)

    tenure = np.clip(rng.exponential(28 - 12 * d, n), 0, 72).round()
    tenure = np.where(contract == "two_year", np.maximum(tenure, 12), tenure)
    monthly = np.clip(
        rng.normal(68 + 15 * d, 22, n)
        + np.where(tier == "premium", 18, np.where(tier == "basic", -12, 0))
        + np.where(internet == "fiber", 10, 0),
        18,
        160,
    ).round(2)
    total = np.maximum(monthly * tenure * rng.normal(1.0, 0.05, n), 0).round(2)
    support = rng.poisson(1.2 + 1.6 * d, n).astype(float)
    usage = np.clip(rng.gamma(2.0, 18.0, n) + np.where(internet == "none", -30, 0), 0, None)
    products = rng.integers(1, 6, n).astype(float)
    login = np.clip(rng.exponential(9 + 4 * d, n), 0, 120).round()
    session = np.clip(rng.normal(32, 12, n), 1, None).round(1)
    delays = rng.poisson(0.5 + 0.4 * d, n).astype(float)
    age = np.clip(rng.normal(44, 14, n), 18, 90).round()

    logit = (
        -1.6
        - 1.6 * d
        + 1.0 * (contract == "month-to-month")
        - 0.9 * (contract == "two_year")
        - 0.035 * tenure
        + 0.018 * (monthly - 70)
        + 0.22 * support
        + 0.35 * delays
        + 0.02 * login
        - 0.012 * (session - 32)
        + 0.35 * (internet == "fiber")
        + 0.3 * (payment == "electronic_check")
        - 0.15 * (products - 3)
        # concept change
        + d
        * (
            2.2 * (region == "south")
            + 0.45 * support
            - 0.06 * (monthly - 70)
            - 0.9 * (contract == "month-to-month")
        )
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    # realistic gaps: usage and last-login are not always recorded
    usage = np.where(rng.random(n) < 0.04, np.nan, usage.round(2))
    login = np.where(rng.random(n) < 0.03, np.nan, login)

    offsets = np.sort(rng.uniform(0.0, (end - start).total_seconds(), n))
    times = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
    frame = pd.DataFrame(
        {
            ID: [f"{id_prefix}-{seed}-{i:07d}" for i in range(n)],
            TIME: pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us"),
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support,
            "data_usage_gb": usage,
            "num_products": products,
            "days_since_last_login": login,
            "avg_session_minutes": session,
            "payment_delays": delays,
            "age": age,
            "contract": contract,
            "payment_method": payment,
            "internet_service": internet,
            "region": region,
            "plan_tier": tier,
            TARGET: churned,
        }
    )
    for col in FEATURES_CATEGORICAL:
        frame[col] = frame[col].astype(str)
    return frame
