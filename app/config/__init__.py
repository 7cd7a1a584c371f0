"""Run configurations: dataclasses checked field by field that round-trip to JSON and to command-line flags.

`base` holds what every model's config shares, `ranker` the ranker's `TrainConfig`, `retrieval` the retrieval
model's `RetrievalConfig`, `presets` the one table of named presets (each pairs both models' settings), `flags` the
command-line flags (`--F` for a ranker field, `--retrieval_F` for a retrieval one).

May import: `app.errors`, `app.ranker` and `app.retrieval` (a config checks its fields against the model's
constructor).
"""
