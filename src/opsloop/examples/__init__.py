"""Example projects for `opsloop init --example NAME`."""

EXAMPLES = {"churn": "customer churn: binary classification, 15 features, drift scenario"}
