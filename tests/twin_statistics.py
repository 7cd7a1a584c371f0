"""Test helper: shape statistics of a preprocessed build, and the tolerances within which the synthetic twin must
match the real slice (both preprocessed the same way, with filters 2 and 1)."""

import numpy as np
import pandas as pd

from datasets.actions import ADDTOCART, TRANSACTION, VIEW
from datasets.retail_rocket.preprocess import VisitorSequences

# name -> (kind, tolerance): "abs" allows |twin - real| <= tolerance, "rel" allows it <= tolerance * |real|.
TOLERANCES = {
    "events_per_visitor_p25": ("abs", 1.0),
    "events_per_visitor_p50": ("abs", 1.0),
    "events_per_visitor_p75": ("abs", 1.0),
    "events_per_visitor_p90": ("rel", 0.3),
    "events_per_visitor_p99": ("rel", 0.4),
    "repeat_view_share": ("abs", 0.05),
    "item_events_p50": ("abs", 1.0),
    "item_events_p90": ("abs", 2.0),
    "item_events_p99": ("rel", 0.4),
    "top_1pct_items_event_share": ("abs", 0.04),
    "items_per_event": ("rel", 0.25),
    "addtocart_after_view_share": ("abs", 0.12),
    "transaction_after_addtocart_share": ("abs", 0.12),
    "categories": ("rel", 0.25),
}


def _quantiles(values: np.ndarray, prefix: str, levels: tuple[int, ...]) -> dict:
    return {f"{prefix}_p{level}": float(np.quantile(values, level / 100)) for level in levels}


def twin_statistics(sequences: VisitorSequences) -> dict:
    """Shape statistics of all kept events (every split together) of a build."""
    counts = np.diff(sequences.offsets)
    visitor = np.repeat(np.arange(len(counts)), counts)  # [N]
    position = np.arange(len(visitor)) - sequences.offsets[:-1][visitor]  # [N]
    action = sequences.action
    frame = pd.DataFrame({"visitor": visitor, "item": sequences.item_id, "position": position})
    first_view = _first_position(frame, action == VIEW)
    first_cart = _first_position(frame, action == ADDTOCART)
    is_view, is_cart, is_buy = action == VIEW, action == ADDTOCART, action == TRANSACTION
    repeat_view = is_view & (first_view < position)
    item_counts = np.unique(sequences.item_id, return_counts=True)[1]
    top = np.sort(item_counts)[::-1][: max(1, len(item_counts) // 100)]
    stats = {
        **_quantiles(counts, "events_per_visitor", (25, 50, 75, 90, 99)),
        "repeat_view_share": float(repeat_view.sum() / max(1, is_view.sum())),
        **_quantiles(item_counts, "item_events", (50, 90, 99)),
        "top_1pct_items_event_share": float(top.sum() / len(action)),
        "items_per_event": float(len(item_counts) / len(action)),
        "addtocart_after_view_share": float((first_view[is_cart] < position[is_cart]).mean()),
        "transaction_after_addtocart_share": float((first_cart[is_buy] < position[is_buy]).mean()),
        "categories": float(np.unique(sequences.category_id[sequences.category_id != 0]).size),
        "events": float(len(action)),
        "visitors": float(len(counts)),
        "view_share": float(is_view.mean()),
        "addtocart_share": float(is_cart.mean()),
        "transaction_share": float(is_buy.mean()),
    }
    return stats


def _first_position(frame: pd.DataFrame, mask: np.ndarray) -> np.ndarray:
    """Per event, the visitor's first position holding that item with `mask` set (a large number if none)."""
    marked = np.where(mask, frame["position"].to_numpy(), np.iinfo(np.int64).max)
    return frame.assign(marked=marked).groupby(["visitor", "item"], sort=False)["marked"].transform("min").to_numpy()


def compare_to_real(real: dict, twin: dict) -> list[str]:
    """Names each statistic outside its tolerance, with both values; empty where the twin matches."""
    failures = []
    for name, (kind, tolerance) in TOLERANCES.items():
        allowed = tolerance if kind == "abs" else tolerance * abs(real[name])
        if abs(twin[name] - real[name]) > allowed:
            failures.append(f"{name}: twin={twin[name]:.4g}, real={real[name]:.4g}, allowed +-{allowed:.4g}")
    return failures
