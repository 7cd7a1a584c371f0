"""`python -m app.recommend saved_models/<run>.keras --visitor ID`: rank items for one visitor.

The visitor's history is their latest events in the dataset (all splits), aged
from their last event. Candidates are every item of the training catalog, or the
ids in `--candidates FILE`; they are scored in chunks, which candidate isolation
makes exact: a candidate's score does not depend on the others.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from datasets.actions import ACTION_NAMES  # noqa: E402
from app.actions import numpy_probabilities_and_scores  # noqa: E402
from app.cli import UserError  # noqa: E402
from app.cli import add_data_flags  # noqa: E402
from app.cli import add_rebuild_flag  # noqa: E402
from app.cli import exits_cleanly_on_user_error  # noqa: E402
from app.cli import setup_logging  # noqa: E402
from app.data import load_data  # noqa: E402
from app.list_evaluation import predict_logits  # noqa: E402
from app.saved_runs import load_ranker  # noqa: E402
from app.saved_runs import load_run_report  # noqa: E402
from app.saved_runs import merged_data_flags  # noqa: E402
from app.saved_runs import run_config  # noqa: E402

logger = logging.getLogger("app.recommend")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m app.recommend",
        description="Rank items for one visitor with a saved ranker, from that visitor's history.",
    )
    parser.add_argument("model", help="path to a .keras file written by app.fit or tuning.search")
    parser.add_argument("--visitor", type=int, required=True, help="Retail Rocket visitor id")
    parser.add_argument("--top", type=int, default=10, help="how many items to show (default: %(default)s)")
    parser.add_argument(
        "--candidates",
        default=None,
        help="file of candidate item ids, one per line (default: every item of the training catalog)",
    )
    parser.add_argument(
        "--chunk_size", type=int, default=1024, help="candidates scored per model call (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_data_flags(parser)
    add_rebuild_flag(parser)
    return parser


def visitor_history(data, visitor, history_length):
    """History features `[1, S]` of the visitor's latest events (across splits), aged from the last one."""
    for store in (data.test, data.validation, data.train):
        record = np.searchsorted(store.visitor_id, visitor)
        if record < store.num_visitors and store.visitor_id[record] == visitor:
            records = np.array([record])
            stop = store.record_end[records]
            features = store.history(records, stop, history_length, store.timestamp_ms[stop - 1])
            return {"visitor_id": np.array([visitor], dtype=np.int32), **features}
    raise UserError(
        f"Visitor {visitor} is not in {data.name} (after its filters). Pick a visitor id from the "
        "dataset's events, e.g. one of the training split's."
    )


def read_candidates(path):
    """Item ids from a file, one per line; bad lines are a `UserError` naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"No candidates file at {path}.")
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                ids.append(int(line.strip()))
            except ValueError:
                raise UserError(f"{path}:{number}: expected an integer item id, got {line.strip()!r}.") from None
    if not ids:
        raise UserError(f"{path} holds no item ids.")
    return np.unique(np.array(ids, dtype=np.int32))


def candidate_logits(model, history, candidate_ids, categories, chunk_size):
    """Logits `[N, A]` of every candidate for one visitor.

    The candidates are cut into rows of `chunk_size` (the last padded), each row
    a list for the same history, and scored in one `predict` call.
    """
    rows = -(-len(candidate_ids) // chunk_size)
    items = np.zeros(rows * chunk_size, dtype=np.int32)
    items[: len(candidate_ids)] = candidate_ids
    item_categories = np.zeros(rows * chunk_size, dtype=np.int32)
    item_categories[: len(candidate_ids)] = categories
    features = {name: np.repeat(value, rows, axis=0) for name, value in history.items()}  # [R, S]
    features["candidate_item_id"] = items.reshape(rows, chunk_size)  # [R, chunk]
    features["candidate_category_id"] = item_categories.reshape(rows, chunk_size)  # [R, chunk]
    logits = predict_logits(model, features, batch_size=8).reshape(rows * chunk_size, -1)  # [R * chunk, A]
    return logits[: len(candidate_ids)]  # [N, A]


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.top < 1 or args.chunk_size < 1:
        raise UserError(f"--top and --chunk_size must be >= 1. Received: --top {args.top} --chunk_size {args.chunk_size}")
    report = load_run_report(args.model)
    config = run_config(report)
    model = load_ranker(args.model)
    data = load_data(**merged_data_flags(args, report), if_stale="rebuild" if args.rebuild_data else "error")
    history = visitor_history(data, args.visitor, config.history_length)
    candidate_ids = read_candidates(args.candidates) if args.candidates else data.catalog.item_id
    categories = data.catalog.categories(candidate_ids)
    probabilities, scores = numpy_probabilities_and_scores(
        candidate_logits(model, history, candidate_ids, categories, args.chunk_size), config.action_weights
    )  # [N, A], [N]
    top = np.argsort(-scores, kind="stable")[: args.top]
    rows = [
        {
            "item_id": int(candidate_ids[i]),
            "category_id": int(categories[i]),
            **{f"p_{action}": float(probabilities[i, a]) for a, action in enumerate(ACTION_NAMES)},
            "score": float(scores[i]),
        }
        for i in top
    ]
    if args.json:
        print(json.dumps({"visitor_id": args.visitor, "candidates": len(candidate_ids), "top": rows}, indent=2))
        return
    seen = int(np.count_nonzero(history["history_item_id"]))
    print(f"Top {len(rows)} of {len(candidate_ids)} items for visitor {args.visitor} ({seen} history events):")
    print(f"{'rank':>4}  {'item':>8}  {'category':>8}  {'P(transaction)':>14}  {'P(addtocart)':>12}  {'P(view)':>8}  {'score':>7}")
    for rank, row in enumerate(rows, start=1):
        print(
            f"{rank:>4}  {row['item_id']:>8}  {row['category_id']:>8}  {row['p_transaction']:>14.4f}  "
            f"{row['p_addtocart']:>12.4f}  {row['p_view']:>8.4f}  {row['score']:>7.3f}"
        )


if __name__ == "__main__":
    main()
