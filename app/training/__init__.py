"""Training: how the ranker and the retrieval model are trained, run by run, and what a run leaves behind.

`flow` is the one training flow every model kind fits through (validation, best epoch, early stopping, timing,
non-finite stop, and in a run folder backups, resuming and logs); `ranker` builds, compiles and exports the ranker
and streams its batches; `run` is one ranker run in its folder (train, export, report); `retrieval` the retrieval
model's trainers and run; `sessions` both stages on the session benchmark; `shortlist_lists` the ranker's training
lists drawn from held-out union shortlists on visitor data, `shortlist_training` its batches and validation, `refit`
its second fit on the training and validation events; `resuming` restarts an interrupted run exactly;
`distribution` spreads a run over devices (`--distribution`); `epoch_evaluation`, `timed_validation`,
`session_validation`, `shortlist_validation` and `progress` are the callbacks; `saved_runs` reads back a run's
`.keras` file and report.

May import: `app.errors`, `app.candidates`, `app.config`, `app.ranker`, `app.retrieval`, `app.two_stage`,
`app.evaluation`, `app.sessions`, `datasets`, `layers`.
"""
