"""Data: feature specs, fingerprints, schemas, the prediction-log layout."""
