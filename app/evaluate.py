"""`python -m app.evaluate saved_models/<run>.keras`: the model beside the baselines on fixed lists.

Reads `<run>.json` beside the model for the data and list settings, so the lists,
and therefore the numbers, are those `app.fit` reported.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

from app.cli import add_data_flags  # noqa: E402
from app.cli import add_rebuild_flag  # noqa: E402
from app.cli import exits_cleanly_on_user_error  # noqa: E402
from app.cli import setup_logging  # noqa: E402
from app.data import load_data  # noqa: E402
from app.list_evaluation import dataset_entry  # noqa: E402
from app.list_evaluation import evaluate_all  # noqa: E402
from app.list_evaluation import evaluation_lists_for  # noqa: E402
from app.report import comparison_table  # noqa: E402
from app.report import write_report  # noqa: E402
from app.saved_runs import load_ranker  # noqa: E402
from app.saved_runs import load_run_report  # noqa: E402
from app.saved_runs import merged_data_flags  # noqa: E402
from app.saved_runs import run_config  # noqa: E402

logger = logging.getLogger("app.evaluate")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m app.evaluate",
        description="Load a saved ranker and report NDCG@10, HR@10, MRR and per-action AUC beside "
        "the random, popularity and history-recency baselines on the same candidate lists.",
    )
    parser.add_argument("model", help="path to a .keras file written by app.fit or tuning.search")
    parser.add_argument(
        "--split",
        choices=("validation", "test", "both"),
        default="test",
        help="which split's lists to score (default: %(default)s)",
    )
    parser.add_argument("--json", default=None, help="also write the report (same schema as app.fit's) here")
    add_data_flags(parser)
    add_rebuild_flag(parser)
    return parser


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    report = load_run_report(args.model)
    config = run_config(report)
    model = load_ranker(args.model)
    flags = merged_data_flags(args, report)
    data = load_data(**flags, if_stale="rebuild" if args.rebuild_data else "error")
    splits = ("validation", "test") if args.split == "both" else (args.split,)
    lists = evaluation_lists_for(config, data, splits)
    metrics = evaluate_all(model, config, data, lists)
    for split, entry in metrics.items():
        print(comparison_table(entry, f"{Path(args.model).stem}: {split}"), end="\n\n")
        if report is not None and split in report.get("metrics", {}):
            reported = report["metrics"][split]["model"]
            same = all(reported[key] == entry["model"][key] for key in entry["model"])
            print(f"{split}: {'reproduces' if same else 'DIFFERS FROM'} the metrics in the run's report.")
    if args.json:
        write_report(
            Path(args.json),
            {
                "config": dataclasses.asdict(config),
                "dataset": dataset_entry(data),
                "data_flags": flags,
                "model_path": str(args.model),
                "metrics": metrics,
            },
        )
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
