"""`python -m app.recommend RUN.keras --visitor ID`: rank items for one visitor.

The visitor's history is their latest events in the dataset (all splits), aged
from their last event. Where the run has a retriever (`<run>.retrieval.keras`
beside the ranker, or `--retriever FILE`), the two stages: the retrieval model
picks `--retrieved` items (the config's, 200 by default) of the catalogue, the
visitor's own history items are added, and the ranker orders them. Without one,
or with `--exhaustive`, the ranker scores every item of the catalogue (or the ids
of `--candidates FILE`). Either way the ranker encodes the history once
(`app.ranker.cached_ranker`) and scores each candidate against it, which
candidate isolation makes exact. A ranker trained on union shortlists
(`app.fit --shortlist_cuts N`) orders the visitor's union shortlist, the
candidate generators fitted on the training split being its first stage.
"""

import app.cli.environment  # noqa: F401  (first: the backend and a quiet TensorFlow)

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from app.candidates.shortlist import UnionShortlister
from app.cli.data import load_data
from app.cli.data import merged_data_flags
from app.cli.shared import add_data_flags
from app.cli.shared import add_rebuild_flag
from app.cli.shared import exits_cleanly_on_user_error
from app.cli.shared import setup_logging
from app.errors import UserError
from app.training.refit import refit_data
from app.training.saved_runs import check_retriever_data
from app.training.saved_runs import chosen_retriever
from app.training.saved_runs import load_ranker
from app.training.saved_runs import load_retriever
from app.training.saved_runs import load_run_report
from app.training.saved_runs import run_config
from app.two_stage.catalogue_ranker import CatalogueRanker
from app.two_stage.shortlist_ranker import ShortlistRanker
from datasets.actions import ACTION_NAMES

logger = logging.getLogger("app.recommend")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m app.recommend", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="path to a ranker .keras file written by app.fit or tuning.search")
    parser.add_argument("--visitor", type=int, required=True, help="Retail Rocket visitor id")
    parser.add_argument("--top", type=int, default=10, help="how many items to show (default: %(default)s)")
    parser.add_argument(
        "--retriever",
        default=None,
        help="a retrieval .keras file (app.fit --model retrieval): rank its shortlist plus the visitor's history "
        "items instead of the whole catalogue (default: the run's own <run>.retrieval.keras, when there is one)",
    )
    parser.add_argument(
        "--exhaustive", action="store_true",
        help="rank every catalogue item with the ranker alone, even where the run has a retriever",
    )
    parser.add_argument(
        "--retrieved",
        type=int,
        default=None,
        help="items the retriever passes to the ranker (default: the run config's `retrieved`)",
    )
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
            return store.model_features(records, stop, history_length, store.timestamp_ms[stop - 1])
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


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    for flag in ("top", "chunk_size", "retrieved"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise UserError(f"--{flag} must be at least 1. Received: --{flag} {getattr(args, flag)}")
    chosen = [flag for flag in ("retriever", "candidates", "exhaustive") if getattr(args, flag)]
    if len(chosen) > 1:
        raise UserError(f"{' and '.join('--' + flag for flag in chosen)} each choose the candidates: give one.")
    report = load_run_report(args.model)
    config = run_config(report)
    given = [f"--{flag}" for flag in ("retriever", "candidates", "exhaustive", "retrieved")
             if getattr(args, flag) not in (None, False)]
    if config.shortlist_cuts and given:
        raise UserError(f"{', '.join(given)}: this ranker was trained on union shortlists and orders them (the "
                        "candidate generators are its first stage); leave them out.")
    ranker = load_ranker(args.model)
    if config.shortlist_cuts:
        return recommend_from_shortlist(args, report, config, ranker)
    retriever_path = chosen_retriever(args.model, args.retriever, ranker_alone=bool(args.candidates or args.exhaustive))
    retriever = load_retriever(retriever_path) if retriever_path else None
    data = load_data(**merged_data_flags(args, report), if_stale="rebuild" if args.rebuild_data else "error")
    if retriever_path:
        check_retriever_data(retriever_path, data)
    history = visitor_history(data, args.visitor, config.history_length)
    retrieved = config.retrieved if args.retrieved is None else args.retrieved
    catalogue = CatalogueRanker(ranker, data.catalog, config.action_weights, retriever, retrieved, args.chunk_size)
    candidates = read_candidates(args.candidates)[None, :] if args.candidates else None
    items, probabilities, scores = catalogue.score(history, candidates)  # [1, M], [1, M, A], [1, M]
    if retriever:
        stage = f"two-stage: {retrieved} retrieved + history"
    else:
        stage = f"the candidates of {args.candidates}" if args.candidates else "exhaustive"
    print_recommendations(args, data, history, stage, items[0], probabilities[0], scores[0])


def recommend_from_shortlist(args, report, config, ranker):
    """A ranker trained on union shortlists orders the visitor's: the generators fitted on the training split (on the
    training and validation events for a refit run, as its ranker)."""
    data = load_data(**merged_data_flags(args, report), if_stale="rebuild" if args.rebuild_data else "error")
    if config.refit:
        data = refit_data(data)
    history = visitor_history(data, args.visitor, config.history_length)
    shortlister = UnionShortlister(data.catalog, action_weights=config.action_weights).fit(data.train)
    items, probabilities, scores = ShortlistRanker(ranker, shortlister, config.action_weights).score(history)
    print_recommendations(args, data, history, "two stages: the union shortlist", items[0], probabilities[0],
                          scores[0])


def print_recommendations(args, data, history, stage, items, probabilities, scores):
    """The visitor's top `--top` of the scored `items [M]` (0 = padding), as a table or JSON."""
    scored = int(np.count_nonzero(items))
    top = np.argsort(-scores, kind="stable")[: min(args.top, scored)]
    categories = data.catalog.categories(items[top])
    rows = [
        {
            "item_id": int(items[i]),
            "category_id": int(category),
            **{f"p_{action}": float(probabilities[i, a]) for a, action in enumerate(ACTION_NAMES)},
            "score": float(scores[i]),
        }
        for i, category in zip(top, categories)
    ]
    if args.json:
        print(json.dumps({"visitor_id": args.visitor, "candidates": scored, "stage": stage, "top": rows}, indent=2))
        return
    seen = int(np.count_nonzero(history["history_item_id"]))
    print(f"Top {len(rows)} of {scored} items ({stage}) for visitor {args.visitor} ({seen} history events):")
    print(f"{'rank':>4}  {'item':>8}  {'category':>8}  {'P(transaction)':>14}  {'P(addtocart)':>12}  "
          f"{'P(view)':>8}  {'score':>7}")
    for rank, row in enumerate(rows, start=1):
        print(
            f"{rank:>4}  {row['item_id']:>8}  {row['category_id']:>8}  {row['p_transaction']:>14.4f}  "
            f"{row['p_addtocart']:>12.4f}  {row['p_view']:>8.4f}  {row['score']:>7.3f}"
        )


if __name__ == "__main__":
    main()
