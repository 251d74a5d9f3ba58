"""Monitoring a recommender (`task: ranking`): drift of user and item features and of the
lists' scores, item-popularity shift, coverage, the share of users served the fallback and
the realised ranking metrics once visits arrive, each with its threshold and breach flag.

- `reference`: what training saw (`RankingReference`, `ranking_reference(...)`), stored
  with the version at registration;
- `frames`, `served`, `popularity`, `window`: the computations on storage-free frames
  (`monitor_ranking(RankingWindow, RankingReference, ...) -> RankingReport`);
- `job`: reading a window from the prediction log, the labels store and the project's
  `load()`, and recording it like the tabular monitor (`run_ranking_job`).
"""
