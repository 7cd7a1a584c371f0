"""Named configurations: dataclasses checked field by field that round-trip to JSON and to command-line flags.

`ranker` holds the ranker's run configs (`TrainConfig`, `CONFIGS`, the shared `ModelConfig` base and the flags);
`retrieval` the retrieval model's (`RetrievalConfig`, `RETRIEVAL_CONFIGS`).

May import: `app.errors`, `app.ranker` and `app.retrieval` (a config checks its fields against the model's
constructor).
"""
