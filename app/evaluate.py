"""`python -m app.evaluate saved_models/<run>.keras`: the model beside the baselines, on both protocols.

Reads `<run>.json` beside the model for the data and list settings, so the
lists, and therefore the numbers, are those `app.fit` reported.

- `--protocol catalogue`: each visitor's items of the split ranked among the
  whole training catalogue (`app.evaluation.catalogue_report`), by the two
  stages with `--retriever` (by default the run's own `<run>.retrieval.keras`
  when there is one), by the ranker alone with `--exhaustive`, and otherwise
  the baselines and candidate generators alone.
- `--protocol sampled`: fixed lists of `eval_list_length` candidates, the
  visitor's items of the split and popularity-sampled negatives.
- `--protocol both` (the default): the catalogue tables, then the sampled ones.

A ranker refit on the training and validation events (`refit`, the `default`
preset's) is scored as `app.fit` reported it: on validation by the ranker of
the first fit (`<run>/validation_fit.keras`) beside peers fitted on the
training split, on test by `<run>.keras` beside peers fitted on the training
and validation events.

A model trained on the public session benchmark (`--config sessions`) is scored
on its protocol instead (`app.sessions.benchmark`): all items ranked for every
case of `--test_cases FILE`, or of the validation split, by the two stages
(`--retriever`, by default `<run>.retrieval.keras`), the retrieval tower alone
and the peers.
"""

import app.cli.environment  # noqa: F401  (first: the backend and a quiet TensorFlow)

import argparse
import logging
from pathlib import Path

from app.candidates.co_visitation import DEFAULT_WINDOW_HOURS
from app.candidates.peers import GENERATOR_NAMES
from app.cli.data import SESSIONS_DATASET
from app.cli.data import load_data
from app.cli.data import merged_data_flags
from app.cli.shared import add_data_flags
from app.cli.shared import add_rebuild_flag
from app.cli.shared import exits_cleanly_on_user_error
from app.cli.shared import setup_logging
from app.cli.shared import training_verbosity
from app.errors import UserError
from app.evaluation.catalogue_report import PEER_NAMES
from app.evaluation.catalogue_report import catalogue_description
from app.evaluation.catalogue_report import catalogue_metrics
from app.evaluation.lists import evaluate_all
from app.evaluation.lists import evaluation_lists_for
from app.evaluation.lists import sampled_description
from app.evaluation.report import comparison_table
from app.evaluation.report import run_report
from app.evaluation.report import write_report
from app.sessions.benchmark import benchmark_entry
from app.sessions.benchmark import benchmark_table
from app.sessions.benchmark import sessions_of_stores
from app.training.refit import refit_catalogue_metrics
from app.training.refit import validation_fit_path
from app.training.saved_runs import check_retriever_data
from app.training.saved_runs import chosen_retriever
from app.training.saved_runs import load_ranker
from app.training.saved_runs import load_retriever
from app.training.saved_runs import load_run_report
from app.training.saved_runs import run_config
from app.training.saved_runs import run_retriever
from datasets.retail_rocket.raw_files import RawFileError
from datasets.retail_rocket.session_files import prefix_cases
from datasets.retail_rocket.session_files import read_cases

logger = logging.getLogger("app.evaluate")


PROTOCOLS = ("catalogue", "sampled")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m app.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="path to a ranker .keras file written by app.fit or tuning.search")
    parser.add_argument(
        "--split",
        choices=("validation", "test", "both"),
        default="test",
        help="which split to score (default: %(default)s)",
    )
    parser.add_argument(
        "--protocol",
        choices=(*PROTOCOLS, "both"),
        default=None,
        help="visitor data: catalogue (every item of the training catalogue ranked), sampled (fixed lists with "
        "popularity-sampled negatives) or both, as app.fit reports them (default: both). A session benchmark "
        "run is scored on the benchmark's own protocol",
    )
    parser.add_argument(
        "--exhaustive", action="store_true",
        help="catalogue protocol: rank every catalogue item with the ranker alone instead of the two stages (slow "
        "on real data)",
    )
    parser.add_argument(
        "--retriever",
        default=None,
        help="the two stages' stage 1, a retrieval .keras file: the ranker orders its shortlist plus the "
        "visitor's history items (default: <model>.retrieval.keras beside the ranker when there is one; without "
        "a retriever or --exhaustive the catalogue tables hold the baselines and candidate generators only)",
    )
    parser.add_argument(
        "--retrieved", type=int, default=None,
        help="catalogue protocol: items the retriever passes on (default: the run config's `retrieved`)",
    )
    parser.add_argument(
        "--max_visitors", type=int, default=None,
        help="catalogue protocol: score a fixed hash-chosen subset of this many visitors per split, 0 for all "
        "(default: the run config's `eval_max_lists`, as app.fit reported)",
    )
    parser.add_argument(
        "--peers", default=None,
        help="catalogue protocol: the peers reported beside the baselines, comma-separated, of "
        f"{','.join(PEER_NAMES)}, or 'none' (default: the candidate generators, {','.join(GENERATOR_NAMES)})",
    )
    parser.add_argument(
        "--co_visitation_window_hours", type=float, default=None,
        help="catalogue protocol: most hours between two events of a co-visited pair (default: "
        f"{DEFAULT_WINDOW_HOURS})",
    )
    parser.add_argument(
        "--test_cases", default=None,
        help="session benchmark: a test-case file (case_id,position,item_id,is_target); every item is ranked for "
        "each case by the model and the peers",
    )
    parser.add_argument("--json", default=None, help="also write the report (same schema as app.fit's) here")
    add_data_flags(parser)
    add_rebuild_flag(parser)
    return parser


CATALOGUE_FLAGS = ("exhaustive", "retriever", "retrieved", "max_visitors", "peers", "co_visitation_window_hours")
"""The flags of the catalogue protocol on visitor data."""


def requested_peers(args, default=GENERATOR_NAMES):
    """The peer names of `--peers` (`default` without it) and the window of `--co_visitation_window_hours`,
    checked."""
    if args.peers is None:
        names = default
    else:
        names = () if args.peers == "none" else tuple(name.strip() for name in args.peers.split(",") if name.strip())
    unknown = [name for name in names if name not in PEER_NAMES]
    if unknown:
        raise UserError(f"--peers: unknown peer(s) {', '.join(unknown)}. Expected a comma-separated list of "
                        f"{', '.join(PEER_NAMES)}, or none.")
    window = DEFAULT_WINDOW_HOURS if args.co_visitation_window_hours is None else args.co_visitation_window_hours
    if not window > 0:
        raise UserError(f"--co_visitation_window_hours must be positive. Received: {window}")
    return names, window


def given(args, flags):
    """The `--flag`s of `flags` this command line set."""
    return [f"--{name}" for name in flags if getattr(args, name) not in (None, False)]


def check_flags_apply(args, sessions, dataset):
    """Refuses, in one line, a flag that does not apply to the run's data or to the protocol asked for."""
    if sessions:  # its stage 1 is the one visitor-data flag it takes: --retriever
        refused = given(args, ("protocol", *(name for name in CATALOGUE_FLAGS if name != "retriever")))
        if refused:
            raise UserError(f"{', '.join(refused)}: a session benchmark run is scored on the benchmark's protocol "
                            "(every item ranked for each case by its two stages and the peers); leave them out.")
    elif args.test_cases:
        raise UserError(f"--test_cases applies to a session benchmark run (python -m app.fit --config sessions); "
                        f"{args.model} was trained on {dataset}.")
    elif args.protocol == "sampled" and given(args, CATALOGUE_FLAGS):
        raise UserError(f"{', '.join(given(args, CATALOGUE_FLAGS))} apply to the catalogue protocol: the sampled "
                        "lists are fixed. Use --protocol catalogue or both.")


def reported_entries(report, protocol, description):
    """The run report's `{split: M}` of `protocol`, when it was scored as `description` says (else `{}`)."""
    metrics = (report or {}).get("metrics", {})
    if protocol in metrics:
        return metrics[protocol] if report.get("protocols", {}).get(protocol) == description else {}
    # Reports written before the catalogue tables led held only the sampled entries, at `metrics.<split>`.
    return {split: metrics[split] for split in ("validation", "test") if protocol == "sampled" and split in metrics}


def same_figures(entry, reported):
    """Whether two entries `M` hold the same figures for the model and every baseline they share."""
    shared = entry["baselines"].keys() & reported["baselines"].keys()
    return entry["model"] == reported["model"] and all(
        entry["baselines"][name] == reported["baselines"][name] for name in shared)


def retrieval_history_length(report):
    """The prefix items a sessions run's retriever reads (its report's `retrieval_config`)."""
    try:
        return int(report["retrieval_config"]["history_length"])
    except (TypeError, KeyError, ValueError):
        raise UserError("The session benchmark needs the run's report (<run>.json, with `retrieval_config`) beside "
                        "the model: it is written by `python -m app.fit --config sessions`.") from None


def session_benchmark(args, report, config, ranker, flags):
    """The session benchmark's figures (`app.sessions.benchmark`) for `--test_cases` and/or the validation split."""
    retriever_path = Path(args.retriever) if args.retriever else run_retriever(args.model)  # it must exist
    retriever = load_retriever(retriever_path)
    cases = {}
    if args.test_cases:
        try:
            cases["test_cases"] = read_cases(args.test_cases)
        except RawFileError as error:
            raise UserError(str(error)) from None
    elif args.split not in ("validation", "both"):
        raise UserError("The session benchmark has no test split here: pass --test_cases FILE (the official test "
                        "cases), or --split validation.")
    data = load_data(**flags, if_stale="rebuild" if args.rebuild_data else "error")
    if args.split in ("validation", "both") or not args.test_cases:
        cases["validation"] = prefix_cases(sessions_of_stores(data.validation))
    metrics = {}
    for name, split_cases in cases.items():
        # Test cases come after every training session; validation cases only after the training split's.
        peer_stores = (data.train, data.validation) if name == "test_cases" else (data.train,)
        metrics[name] = benchmark_entry(ranker, retriever, config, retrieval_history_length(report), data.catalog,
                                        sessions_of_stores(*peer_stores), split_cases, training_verbosity())
        print(benchmark_table(metrics[name], f"{Path(args.model).stem}: {name}"), end="\n\n")
    if args.json:
        write_report(Path(args.json), run_report(
            config, data, flags, args.model,
            retriever_path=str(retriever_path),
            test_cases_path=args.test_cases,
            protocol="sessions",
            protocol_description="every item ranked for each case; ties by training popularity, then item id",
            metrics=metrics,
        ))
        print(f"Wrote {args.json}")


def check_request(args):
    """Refuses flags that contradict each other, in one line, before anything is loaded."""
    if (args.retrieved is not None and args.retrieved < 1) or (args.max_visitors or 0) < 0:
        raise UserError(f"--retrieved must be >= 1 and --max_visitors >= 0. Received: --retrieved {args.retrieved} "
                        f"--max_visitors {args.max_visitors}")
    if args.retriever and args.exhaustive:
        raise UserError("--retriever (two stages) and --exhaustive (the ranker alone over every item) are two models "
                        "for the catalogue tables: pass one.")


def check_shortlist_request(args):
    """A ranker trained on union shortlists is scored as its two stages on the catalogue protocol alone."""
    other_models = given(args, ("retriever", "retrieved", "exhaustive"))
    if other_models:
        raise UserError(f"{', '.join(other_models)}: this ranker was trained on union shortlists and orders them "
                        "(the generators are its first stage); leave them out.")
    if args.protocol == "sampled":
        raise UserError("--protocol sampled: this ranker reads the union shortlist's features, which sampled lists "
                        "lack; its figures are the catalogue protocol's (--protocol catalogue).")


@exits_cleanly_on_user_error
def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logging()
    check_request(args)
    report = load_run_report(args.model)
    flags = merged_data_flags(args, report)
    sessions = flags["dataset"] == SESSIONS_DATASET
    check_flags_apply(args, sessions, flags["dataset"])
    config = run_config(report)
    if config.shortlist_cuts:
        check_shortlist_request(args)
    peers, window_hours = requested_peers(args, PEER_NAMES if config.shortlist_cuts else GENERATOR_NAMES)
    retrieved = config.retrieved if args.retrieved is None else args.retrieved
    max_visitors = config.eval_max_lists if args.max_visitors is None else args.max_visitors
    model = load_ranker(args.model)
    if sessions:
        return session_benchmark(args, report, config, model, flags)
    protocols = PROTOCOLS if args.protocol in (None, "both") else (args.protocol,)
    if config.shortlist_cuts:
        protocols = ("catalogue",)
    wants_retriever = "catalogue" in protocols and not config.shortlist_cuts
    retriever_path = chosen_retriever(args.model, args.retriever, args.exhaustive) if wants_retriever else None
    retriever = load_retriever(retriever_path) if retriever_path else None
    splits = ("validation", "test") if args.split == "both" else (args.split,)
    validation_fit = validation_fit_path(args.model) if config.refit and "validation" in splits else None
    if validation_fit and not validation_fit.is_file():
        raise UserError(f"{args.model} is refit on training and validation events; its validation figures are of the "
                        f"ranker fitted on the training split, {validation_fit}, which is missing. Score the test "
                        "split alone (--split test) or train the run again.")
    data = load_data(**flags, if_stale="rebuild" if args.rebuild_data else "error")
    metrics, described = {}, {}
    if "catalogue" in protocols:
        if retriever_path:
            check_retriever_data(retriever_path, data)
        if config.refit:
            metrics["catalogue"] = refit_catalogue_metrics(
                load_ranker(validation_fit) if validation_fit else None, model, config, data, splits,
                max_visitors=max_visitors, peers=peers, window_hours=window_hours, verbose=training_verbosity())
        else:
            metrics["catalogue"] = catalogue_metrics(model, config, data, splits, retriever, retrieved,
                                                     args.exhaustive, max_visitors, peers, window_hours,
                                                     training_verbosity())
        described["catalogue"] = catalogue_description(data.catalog.num_items, retriever, retrieved, args.exhaustive,
                                                       max_visitors, window_hours, bool(config.shortlist_cuts),
                                                       config.refit)
    if "sampled" in protocols:
        metrics["sampled"] = evaluate_all(model, config, data, evaluation_lists_for(config, data, splits),
                                          training_verbosity())
        described["sampled"] = sampled_description(config)
    for protocol, entries in metrics.items():
        print(described[protocol], end="\n\n")
        reported = reported_entries(report, protocol, described[protocol])
        for split, entry in entries.items():
            print(comparison_table(entry, f"{Path(args.model).stem}: {split}, {protocol}"), end="\n\n")
            if split in reported:
                same = same_figures(entry, reported[split])
                print(f"{split}, {protocol}: {'reproduces' if same else 'DIFFERS FROM'} the metrics in the run's "
                      "report.")
    if args.json:
        write_report(Path(args.json), run_report(
            config, data, flags, args.model,
            retriever_path=str(retriever_path) if retriever_path else None,
            protocols=described,
            metrics=metrics,
        ))
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
