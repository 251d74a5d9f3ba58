"""The restaurants example's web app (`python -m opsloop.examples.webapp --project PATH`): a
small FastAPI service in its own process that serves a recommender's published lists and
records what users chose as labels. Outside `opsloop.examples.restaurants` so that it starts
without that package's data generator (NumPy, pandas). See `app.py` and docs/ranking.md."""
