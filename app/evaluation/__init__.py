"""Evaluation: the two protocols, the baselines beside the model, the metrics, the report and its figures.

`lists` scores fixed candidate lists (the sampled protocol) with the model and every baseline; `catalogue`
ranks every catalogue item (the catalogue protocol) and `catalogue_report` makes a report's catalogue tables (the
model as two stages or the ranker alone, beside every generator); `retrieval_recall` is the retrieval
model's full-catalogue recall@K; `baselines` the peers; `boosted_reranker` the gradient-boosted reranker of
the union shortlist, learned from held-out lists (the peer a neural ranker must beat); `list_metrics` the metrics of one scorer and
`rank_metrics` the catalogue's, from each relevant item's rank; `report` the run report and its relative
differences; `plots` the two figures a run leaves.

May import: `app.candidates` (the generators as catalogue peers), `app.errors`, `app.ranker` (per-action scores,
the hit-rate metric), `app.two_stage` (the ranker over the catalogue or a shortlist), `datasets`.
"""
