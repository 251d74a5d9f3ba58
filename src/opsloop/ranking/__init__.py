"""Ranking (recommendation) models run by opsloop: `task: ranking` (issue 17).

The shared value types live in `opsloop.ranking.data`:

- `RankingData`: what a recommender is trained on and scores from — the interactions
  (user, item, time, optional rating), the user features and the item catalogue.
- `TopK`: the top-k recommendations for a set of users, as positions into a catalogue.
- `Relevant`: per user, the items that turned out relevant (visited after a cut-off),
  in compressed sparse rows over the same catalogue.

Everything here is NumPy/pandas; heavy model libraries are imported lazily inside the
modules that need them.
"""
