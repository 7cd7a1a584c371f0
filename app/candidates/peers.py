"""Every candidate generator by its report name, fitted on the training split."""

from app.candidates.category_popularity import CategoryPopularity
from app.candidates.co_visitation import DEFAULT_WINDOW_HOURS, CoVisitation
from app.candidates.own_items import OwnItems
from app.candidates.own_then_co_visitation import OwnThenCoVisitation
from datasets.actions import DEFAULT_LOSS_WEIGHTS

GENERATOR_NAMES = ("own_items_recency", "co_visitation", "own_then_co_visitation", "category_popularity")
"""The generators reported beside the catalogue protocol's baselines (random, popularity and history_recency,
the own items by recency x action weight, are there already)."""


def fitted_generators(store, catalog, action_weights=DEFAULT_LOSS_WEIGHTS, names=GENERATOR_NAMES,
                      window_hours=DEFAULT_WINDOW_HOURS):
    """`{name: generator}` fitted on `store` (the training split's `EventStore`), in `names` order.

    `window_hours` is the co-visitation window of `co_visitation` and `own_then_co_visitation`.
    """
    unknown = sorted(set(names) - set(GENERATOR_NAMES))
    if unknown:
        raise ValueError(f"Unknown candidate generator(s) {unknown}. Expected some of {list(GENERATOR_NAMES)}.")
    make = {
        "own_items_recency": lambda: OwnItems(catalog),
        "co_visitation": lambda: CoVisitation(catalog, window_hours, action_weights=action_weights),
        "own_then_co_visitation": lambda: OwnThenCoVisitation(catalog, window_hours, action_weights=action_weights),
        "category_popularity": lambda: CategoryPopularity(catalog, action_weights),
    }
    return {name: make[name]().fit(store) for name in names}
