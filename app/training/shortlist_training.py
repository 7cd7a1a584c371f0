"""The ranker trained on its real lists on visitor data: held-out union shortlists, validated as two stages.

`TrainConfig.shortlist_cuts` > 0 selects it. Each epoch is one pass over the lists of
`app.training.shortlist_lists`; after each, `ShortlistValidation` ranks the whole catalogue for a fixed subset of
validation visitors (`eval_max_lists`, 0: all) with the ranker ordering their union shortlists, as the report does.
"""

import logging
import time

from app.candidates.shortlist import NUM_SHORTLIST_FEATURES, UnionShortlister
from app.errors import UserError
from app.evaluation.catalogue import catalogue_queries
from app.training.ranker import list_batches
from app.training.shortlist_lists import shortlist_training_lists
from app.training.shortlist_validation import ShortlistValidation

logger = logging.getLogger(__name__)


def check_shortlist_config(config):
    """A `UserError` unless `config`'s ranker takes the candidate features of its training lists: the shortlist's
    on union shortlists (`shortlist_cuts` > 0), none on popularity-sampled lists; `refit` on shortlists only."""
    if not config.shortlist_cuts and config.refit:
        raise UserError("--refit true applies to a ranker trained on union shortlists (--shortlist_cuts N, with "
                        "--num_candidate_features 12): pass --refit false.")
    if not config.shortlist_cuts and config.num_candidate_features:
        raise UserError(
            "A ranker trained on popularity-sampled lists (--shortlist_cuts 0) has no candidate features: pass "
            f"--num_candidate_features 0. Received: --num_candidate_features {config.num_candidate_features}."
        )
    if config.shortlist_cuts and config.num_candidate_features != NUM_SHORTLIST_FEATURES:
        raise UserError(
            f"A ranker trained on shortlists (--shortlist_cuts {config.shortlist_cuts}) reads the shortlist's "
            f"{NUM_SHORTLIST_FEATURES} candidate features: pass --num_candidate_features {NUM_SHORTLIST_FEATURES}. "
            f"Received: --num_candidate_features {config.num_candidate_features}."
        )


def shortlist_batches(config, train, name):
    """`(batches, steps_per_epoch, statistics)`: the endless training batches of the held-out union shortlists of
    the events of `train` (an `EventStore`), the steps of one pass over them and the lists' statistics (JSON-able,
    for the report); `name` names the data in a refusal."""
    started = time.perf_counter()
    try:
        lists = shortlist_training_lists(train, config.history_length, config.num_candidates,
                                         config.action_weights, cuts=config.shortlist_cuts, seed=config.seed)
    except ValueError as error:
        raise UserError(f"Cannot train a ranker on the shortlists of {name}: {error}") from error
    steps = len(lists.labels) // config.batch_size
    if steps == 0:
        raise UserError(f"{name} gives {len(lists.labels)} training lists, fewer than one batch "
                        f"(--batch_size {config.batch_size}): lower --batch_size or add data.")
    statistics = {**lists.statistics, "seconds": time.perf_counter() - started}
    logger.info("%d training lists of %d candidates from %d held-out visitors (%d cuts) in %.1f s.",
                statistics["lists"], config.num_candidates, statistics["held_out_visitors"], config.shortlist_cuts,
                statistics["seconds"])
    batches = list_batches(lists.features, lists.labels, lists.mask, config.batch_size, config.seed)
    return batches, steps, statistics


def shortlist_training(config, data):
    """`(batches, steps_per_epoch, validation, statistics)` of a ranker trained on `data`'s held-out shortlists.

    Args:
        config: the ranker's `TrainConfig`, `shortlist_cuts` > 0 and the shortlist's `NUM_SHORTLIST_FEATURES`
            candidate features.
        data: the loaded visitor dataset.

    Returns:
        The endless training batches, the steps of one pass over the lists, the validation callback and the lists'
        statistics (JSON-able, for the report).
    """
    check_shortlist_config(config)
    try:
        queries = catalogue_queries(data.validation, config.history_length, config.eval_max_lists, config.seed)
    except ValueError as error:
        raise UserError(f"Cannot validate a ranker on the shortlists of {data.name}: {error}") from error
    batches, steps, statistics = shortlist_batches(config, data.train, data.name)
    shortlister = UnionShortlister(data.catalog, action_weights=config.action_weights).fit(data.train)
    validation = ShortlistValidation(shortlister, queries, config.action_weights, config.seed)
    return batches, steps, validation, statistics
