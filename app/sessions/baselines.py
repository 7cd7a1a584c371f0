"""The session benchmark's baselines: popularity, last-item transitions, session kNN and V-SKNN.

Written from the papers and `retailrocket-sessions/README.md`: session kNN (Jannach & Ludewig, "When recurrent
neural networks meet the neighborhood for session-based recommendation", RecSys 2017) and V-SKNN (Ludewig &
Jannach, "Evaluation of session-based recommendation algorithms", UMUAI 2018). Each one is fitted on training
`Sessions`, then `scores(prefix_offsets, prefix_items)` gives dense float64 scores `[n, I + 1]` (column = item id,
column 0 always 0) for `app.sessions.metrics`. The catalogue is items 1..I, `num_items` at `fit` (by default the
largest training item id); a prefix item the training never saw (or beyond I) matches nothing.

Session kNN, precisely:
- Vectors: the prefix and every training session as sets of items (binary). V-SKNN weighs the prefix's j-th of L
  events (j from 0) by (j + 1) / L, so the last weighs 1; a repeated item keeps its largest weight (its last
  occurrence). Training sessions stay binary.
- Similarity: cosine, w . b / (||w||_2 * sqrt(|s|)), with |s| the number of distinct items of the training session
  and ||w||_2 the L2 norm of the prefix's (weighted) vector over its distinct items, unseen ones included. The
  prefix norm is one constant per case, so it changes no neighbour choice and no ranking; only the session norm
  sqrt(|s|) does.
- Candidates: every training session sharing at least one item with the prefix (no sampling of recent sessions).
  For a test case the current session is never among them (the official test sessions are not in training, and
  our validation sessions are split off before fitting).
- Neighbours: the k = 100 most similar. Similarities are compared exactly (as (w . b)^2 / |s|, a ratio of
  integers up to the factor 1 / L^2 shared by the case), and ties at the k-th place are cut by recency: the
  larger session id (ids are in time order) wins. `neighbour_ties="all"` keeps every session tied with the k-th.
- Item score: the sum of the similarities of the neighbours that contain the item.

Which choices matter (validation split, V-SKNN HR@20): dropping the session norm costs 2 points, a norm over
events instead of distinct items 0.25, summing a repeated item's weights instead of keeping the largest 0.4;
the prefix norm changes nothing and the tie cut at the k-th neighbour (recent, oldest or all) under 0.1.
"""

import numpy as np
import scipy.sparse

DEFAULT_NEIGHBOURS = 100
NEIGHBOUR_TIES = ("recent", "all")


def _check_prefixes(prefix_offsets, prefix_items):
    """Validates a CSR batch of prefixes; returns them as int64 arrays."""
    offsets = np.asarray(prefix_offsets, dtype=np.int64)
    items = np.asarray(prefix_items, dtype=np.int64)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(items):
        raise ValueError(f"prefix_offsets must run from 0 to len(prefix_items) = {len(items)}. Received: "
                         f"prefix_offsets={offsets[:3].tolist()}...{offsets[-2:].tolist()}")
    if (np.diff(offsets) < 1).any():
        raise ValueError(f"Every prefix needs at least one item. Received: empty prefixes at "
                         f"{np.flatnonzero(np.diff(offsets) < 1)[:5].tolist()}")
    if len(items) and items.min() < 1:
        raise ValueError(f"Item ids start at 1. Received: prefix item id {int(items.min())}")
    return offsets, items


class SessionBaseline:
    """What the baselines share: the catalogue size and the training popularity.

    After `fit`: `num_items` (I) and `item_popularity` `[I + 1]` (training events per item id).
    """

    def fit(self, sessions, num_items: int | None = None):
        """Learns from training `Sessions`; `num_items` is I, by default the largest training item id."""
        largest = int(sessions.items.max())
        self.num_items = largest if num_items is None else int(num_items)
        if self.num_items < largest:
            raise ValueError(f"num_items must cover every training item. Received: num_items={num_items}, "
                             f"largest training item id={largest}")
        self.item_popularity = sessions.item_counts(self.num_items)  # [I + 1]
        return self

    def _columns(self, items):
        """Item ids as score columns; items beyond the catalogue go to column 0, which no session holds."""
        return np.where(items <= self.num_items, items, 0)


class Popularity(SessionBaseline):
    """Every case gets the training counts of the items."""

    def scores(self, prefix_offsets, prefix_items) -> np.ndarray:
        offsets, _ = _check_prefixes(prefix_offsets, prefix_items)
        counts = self.item_popularity.astype(np.float64)  # [I + 1]
        return np.broadcast_to(counts, (len(offsets) - 1, len(counts))).copy()  # [n, I + 1]


class LastItemTransitions(SessionBaseline):
    """Item b scores how often b directly followed the prefix's last item a in training sessions."""

    def fit(self, sessions, num_items: int | None = None):
        super().fit(sessions, num_items)
        follows = np.ones(len(sessions.items), dtype=bool)  # [M]: an event with a next one in its session
        follows[sessions.offsets[1:] - 1] = False
        current = sessions.items[follows]  # [P]
        following = sessions.items[1:][follows[:-1]]  # [P]
        size = self.num_items + 1
        self.transitions = scipy.sparse.csr_matrix(
            (np.ones(len(current)), (current, following)), shape=(size, size))  # [I + 1, I + 1] counts
        self.transitions.sum_duplicates()
        return self

    def scores(self, prefix_offsets, prefix_items) -> np.ndarray:
        offsets, items = _check_prefixes(prefix_offsets, prefix_items)
        last = self._columns(items[offsets[1:] - 1])  # [n]
        return self.transitions[last].toarray()  # [n, I + 1]


class SessionKnn(SessionBaseline):
    """Session kNN (SKNN), or V-SKNN with `position_weighted=True`; see the module docstring.

    Args:
        neighbours: k, the number of most similar training sessions kept.
        position_weighted: weigh the prefix's items by position (V-SKNN) instead of binary (SKNN).
        neighbour_ties: "recent" (ties at the k-th place go to the larger session id) or "all" (keep them all).
    """

    def __init__(self, neighbours: int = DEFAULT_NEIGHBOURS, position_weighted: bool = False,
                 neighbour_ties: str = "recent"):
        if neighbours < 1:
            raise ValueError(f"neighbours must be >= 1. Received: neighbours={neighbours}")
        if neighbour_ties not in NEIGHBOUR_TIES:
            raise ValueError(f"neighbour_ties must be one of {NEIGHBOUR_TIES}. Received: "
                             f"neighbour_ties={neighbour_ties!r}")
        self.neighbours = neighbours
        self.position_weighted = position_weighted
        self.neighbour_ties = neighbour_ties

    def fit(self, sessions, num_items: int | None = None):
        super().fit(sessions, num_items)
        session_of_event = np.repeat(np.arange(len(sessions)), sessions.lengths)  # [M]
        session_items = scipy.sparse.csr_matrix(
            (np.ones(len(sessions.items)), (session_of_event, sessions.items)),
            shape=(len(sessions), self.num_items + 1))  # [N, I + 1]
        session_items.sum_duplicates()
        session_items.data[:] = 1.0  # binary: a session holds an item or not
        self.session_items = session_items  # [N, I + 1]
        self.item_sessions = session_items.T.tocsr()  # [I + 1, N]
        self.session_sizes = np.diff(session_items.indptr).astype(np.float64)  # [N] distinct items
        self.session_ids = np.asarray(sessions.session_id)  # [N]
        return self

    def _prefix_vectors(self, offsets, items):
        """The prefixes as sparse vectors `[n, I + 1]` of integer weights (1, or j + 1 for V-SKNN) and their L2 norms.

        Weights are kept as integers (the V-SKNN weight times L) so that similarities compare exactly.
        """
        lengths = np.diff(offsets)  # [n]
        case = np.repeat(np.arange(len(lengths)), lengths)  # [m]
        position = np.arange(len(items)) - offsets[case]  # [m]
        weight = position + 1 if self.position_weighted else np.ones(len(items), dtype=np.int64)  # [m]
        order = np.lexsort((weight, items, case))  # by case, item, then weight ascending
        case, item, weight = case[order], items[order], weight[order]
        last_of_item = np.ones(len(order), dtype=bool)  # [m]: keep the largest weight of each (case, item)
        last_of_item[:-1] = (case[1:] != case[:-1]) | (item[1:] != item[:-1])
        case, item, weight = case[last_of_item], item[last_of_item], weight[last_of_item].astype(np.float64)
        norms = np.sqrt(np.bincount(case, weights=weight ** 2, minlength=len(lengths)))  # [n]
        vectors = scipy.sparse.csr_matrix((weight, (case, self._columns(item))),
                                          shape=(len(lengths), self.num_items + 1))  # [n, I + 1]
        return vectors, norms

    def _nearest(self, overlap):
        """Keeps each row's k most similar sessions of `overlap` `[n, N]` (entries w . b); returns a row mask."""
        rows = np.repeat(np.arange(overlap.shape[0]), np.diff(overlap.indptr))  # [e]
        closeness = overlap.data ** 2 / self.session_sizes[overlap.indices]  # [e] exact order of the cosine
        order = np.lexsort((-self.session_ids[overlap.indices], -closeness, rows))  # [e]
        place = np.empty(len(order), dtype=np.int64)  # [e]: 0 for a row's most similar session
        place[order] = np.arange(len(order)) - overlap.indptr[rows[order]]
        kept = place < self.neighbours  # [e]
        if self.neighbour_ties == "all":
            full = np.diff(overlap.indptr) > self.neighbours  # [n]
            kth = np.full(overlap.shape[0], -np.inf)  # [n]
            kth[full] = closeness[order[overlap.indptr[:-1][full] + self.neighbours - 1]]
            kept = closeness >= kth[rows]
        return kept

    def scores(self, prefix_offsets, prefix_items) -> np.ndarray:
        offsets, items = _check_prefixes(prefix_offsets, prefix_items)
        vectors, norms = self._prefix_vectors(offsets, items)  # [n, I + 1], [n]
        overlap = (vectors @ self.item_sessions).tocsr()  # [n, N] w . b for sessions sharing an item
        overlap.sort_indices()
        kept = self._nearest(overlap)  # [e]
        rows = np.repeat(np.arange(overlap.shape[0]), np.diff(overlap.indptr))  # [e]
        cosine = overlap.data / (norms[rows] * np.sqrt(self.session_sizes[overlap.indices]))  # [e]
        neighbours = scipy.sparse.csr_matrix((cosine[kept], (rows[kept], overlap.indices[kept])),
                                             shape=overlap.shape)  # [n, N]
        return (neighbours @ self.session_items).toarray()  # [n, I + 1]


def vsknn(neighbours: int = DEFAULT_NEIGHBOURS, neighbour_ties: str = "recent") -> SessionKnn:
    """V-SKNN: session kNN with the prefix's items weighted by position."""
    return SessionKnn(neighbours=neighbours, position_weighted=True, neighbour_ties=neighbour_ties)


BASELINES = {
    "popularity": Popularity,
    "transitions": LastItemTransitions,
    "sknn": SessionKnn,
    "vsknn": vsknn,
}
"""The benchmark's baselines by name; each call gives an unfitted one with the defaults above."""
