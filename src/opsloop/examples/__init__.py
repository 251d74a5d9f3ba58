"""Example projects for `opsloop init --example NAME`."""

EXAMPLES = {
    "churn": "customer churn: binary classification, 15 features, drift scenario",
    "restaurants": "restaurant recommendations: ranking, 50,000 users x 5,000 restaurants, "
    "visits over time with a cuisine trend, new openings and moving users",
}
