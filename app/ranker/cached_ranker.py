"""Ranker inference that encodes a visitor's customer and history tokens once for any number of candidates."""

import keras
import numpy as np
from keras import ops

HISTORY_FEATURES = (
    "visitor_id",
    "history_item_id",
    "history_category_id",
    "history_action",
    "history_age_hours",
)
"""The ranker's inputs that describe the visitor: `visitor_id [B]`, the rest `[B, S]`."""

CANDIDATE_FEATURES = ("candidate_item_id", "candidate_category_id")
"""The ranker's inputs that describe the candidates, `[B, C]` (plus `candidate_features [B, C, F']` where the
ranker has that input: `candidate_inputs`)."""


def candidate_inputs(ranker):
    """The names of `ranker`'s candidate inputs: `CANDIDATE_FEATURES`, and `candidate_features` if it has one."""
    return tuple(name for name in ranker.input if name not in HISTORY_FEATURES)

CACHE_NAMES = ("prefix_keys", "prefix_values")
"""The arrays of a cache, each `[B, L, P, K, Dh]` with `P = 1 + S`."""


class _RankerPart(keras.Model):
    """A model made of a ranker's own layers, built with the ranker: `build` creates nothing.

    Subclasses call `self.build(...)` once their layers are set, so `predict_on_batch` needs no eager first call
    to build the model.
    """

    def build(self, input_shape):
        """Nothing to create: every layer is the ranker's."""


class _PrefixEncoder(_RankerPart):
    """The ranker's customer and history tokens through its decoder stack, to keys and values.

    Built from the ranker's own layers: its graph up to the customer embedding
    and the history projection, its sequence positions and isolation mask
    (with no candidates), and `DecoderStack.prefix_keys_and_values`. The keys
    are rotated relative to the candidates' position `n_valid_history + 1`,
    as the full model places every candidate.

    Never saved (it holds the ranker's layers, not a config): make it from a
    loaded ranker.

    Args:
        ranker: a `PhoenixRanker`.

    Call arguments:
        features: dict of the `HISTORY_FEATURES`.

    Returns:
        Dict `{"prefix_keys", "prefix_values"}`, each `[B, L, P, K, Dh]`.
    """

    def __init__(self, ranker, **kwargs):
        super().__init__(**kwargs)
        inputs = {name: ranker.input[name] for name in HISTORY_FEATURES}
        self.prefix_tokens = keras.Model(
            inputs, [ranker.customer_tokens, ranker.history_tokens], name="prefix_tokens"
        )  # [B, 1, D], [B, S, D]
        self.sequence_positions = ranker.sequence_positions
        self.isolation_mask = ranker.isolation_mask
        self.decoder_stack = ranker.decoder_stack
        self.build({name: inputs[name].shape for name in HISTORY_FEATURES})

    def call(self, features):
        customer, history = self.prefix_tokens(features)  # [B, 1, D], [B, S, D]
        tokens = ops.concatenate([customer, history], axis=1)  # [B, P, D]
        history_mask = ops.greater(features["history_item_id"], 0)  # [B, S]
        no_candidates = ops.zeros_like(history_mask[:, :0])  # [B, 0]
        positions = self.sequence_positions(history_mask, no_candidates)  # [B, P]
        attention_mask = self.isolation_mask(history_mask, no_candidates)  # [B, P, P]
        candidate_position = self.sequence_positions(
            history_mask, ops.ones_like(history_mask[:, :1])
        )[:, -1:]  # [B, 1]
        keys, values = self.decoder_stack.prefix_keys_and_values(
            tokens, positions, attention_mask, candidate_position
        )  # [B, L, P, K, Dh] each
        return {"prefix_keys": keys, "prefix_values": values}


class _CandidateScorer(_RankerPart):
    """The ranker's candidate tokens through its decoder stack against a prefix cache, to logits.

    Built from the ranker's own layers: its graph up to the candidate
    projection (item, category, the candidate-marker action embedding and the
    `CandidateHistoryMatch` features, exactly as in the full model),
    `DecoderStack.attend_to_prefix` (the candidates' shared rotary position is
    in the cache's keys), the final norm and `action_logits`.

    Never saved (it holds the ranker's layers, not a config): make it from a
    loaded ranker.

    Args:
        ranker: a `PhoenixRanker`.

    Call arguments:
        inputs: dict of the `HISTORY_FEATURES`, `CANDIDATE_FEATURES` and
            `CACHE_NAMES` (from `_PrefixEncoder`, for the same histories).

    Returns:
        Logits `[B, C, A]`, float32, as the full ranker's.
    """

    def __init__(self, ranker, **kwargs):
        super().__init__(**kwargs)
        self.candidate_names = candidate_inputs(ranker)
        inputs = {name: ranker.input[name] for name in HISTORY_FEATURES + self.candidate_names}
        self.candidate_tokens = keras.Model(inputs, ranker.candidate_tokens, name="candidate_tokens")  # [B, C, D]
        self.decoder_stack = ranker.decoder_stack
        self.final_norm = ranker.final_norm
        self.action_logits = ranker.action_logits
        self.build({name: inputs[name].shape for name in inputs})

    def call(self, inputs):
        candidates = self.candidate_tokens(
            {name: inputs[name] for name in HISTORY_FEATURES + self.candidate_names}
        )  # [B, C, D]
        history_mask = ops.greater(inputs["history_item_id"], 0)  # [B, S]
        candidate_mask = ops.greater(inputs["candidate_item_id"], 0)  # [B, C]
        prefix_mask = ops.concatenate(
            [ops.ones_like(history_mask[:, :1]), history_mask], axis=1
        )  # [B, P]
        hidden = self.decoder_stack.attend_to_prefix(
            candidates,
            inputs["prefix_keys"],
            inputs["prefix_values"],
            prefix_mask,
            candidate_mask,
        )  # [B, C, D]
        return self.action_logits(self.final_norm(hidden))  # [B, C, A]


class CachedRanker:
    """Scores candidates with a `PhoenixRanker`'s weights, encoding the history once.

    In the ranker no customer or history token attends to a candidate, so the
    keys and values of those tokens in every layer do not depend on the
    candidates. `encode` computes them once per visitor (the cache); `score`
    runs each candidate as one token that attends to the cache's valid keys
    and to itself, at the full model's rotary position, and gives the full
    model's logits without the `[C, C]` attention among candidates that the
    isolation mask throws away. Both steps are `keras.Model`s made of the
    ranker's own layers (the same weights; nothing new is saved), called with
    `predict_on_batch`, so they run compiled on every backend: jitted by XLA
    on JAX, a `tf.function` graph on TensorFlow (with XLA where Keras turns it
    on, i.e. not on CPU). Candidates go in chunks of `chunk_size`, the last
    padded with id 0, so the scoring step compiles once per number of
    visitors `B`, whatever `C`; `encode` compiles once per `(B, S)`.

    Args:
        ranker: a built `PhoenixRanker`, e.g. loaded from a `.keras` file.
        chunk_size: candidates per compiled scoring call.

    Example:

    ```python
    cached = CachedRanker(keras.saving.load_model("saved_models/run.keras"))
    cache = cached.encode(history_features)  # once per visitor
    logits = cached.score(cache, history_features, item_ids, category_ids)  # [B, C, 3]
    ```
    """

    def __init__(self, ranker, chunk_size=1024):
        if not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(
                f"`chunk_size` must be a positive int. Received: chunk_size={chunk_size!r}"
            )
        self.chunk_size = chunk_size
        self.num_actions = ranker.action_logits.units
        self.prefix_encoder = _PrefixEncoder(ranker, name="prefix_encoder")
        self.candidate_scorer = _CandidateScorer(ranker, name="candidate_scorer")

    def encode(self, history_features):
        """The cache of a batch of visitors.

        Args:
            history_features: dict with the `HISTORY_FEATURES` (other keys are
                ignored): `visitor_id [B]`, history arrays `[B, S]`.

        Returns:
            Dict `{"prefix_keys", "prefix_values"}` of numpy arrays
            `[B, L, 1 + S, K, Dh]`.
        """
        return self.prefix_encoder.predict_on_batch(_history_arrays(history_features))

    def score(self, cache, history_features, candidate_item_id, candidate_category_id, candidate_features=None):
        """The full ranker's logits of any number of candidates per visitor.

        Args:
            cache: `encode(history_features)`.
            history_features: the same dict as given to `encode`.
            candidate_item_id: int `[B, C]`, 0 is padding.
            candidate_category_id: int `[B, C]`.
            candidate_features: float `[B, C, F']`, for a ranker built with `num_candidate_features=F'` (and
                only then).

        Returns:
            float32 numpy logits `[B, C, A]` (transaction, addtocart, view).
        """
        history = _history_arrays(history_features)
        candidates = {
            "candidate_item_id": np.asarray(candidate_item_id, dtype=np.int32),  # [B, C]
            "candidate_category_id": np.asarray(candidate_category_id, dtype=np.int32),  # [B, C]
        }
        items = candidates["candidate_item_id"]
        batch = len(history["visitor_id"])
        if items.ndim != 2 or candidates["candidate_category_id"].shape != items.shape or items.shape[0] != batch:
            raise ValueError(
                "`candidate_item_id` and `candidate_category_id` must both be `[B, C]`, with the "
                f"history's B={batch}. Received: candidate_item_id.shape={items.shape}, "
                f"candidate_category_id.shape={candidates['candidate_category_id'].shape}"
            )
        wants_features = "candidate_features" in self.candidate_scorer.candidate_names
        if wants_features != (candidate_features is not None):
            raise ValueError(
                f"This ranker {'takes' if wants_features else 'takes no'} `candidate_features`. Received: "
                f"candidate_features={'None' if candidate_features is None else np.shape(candidate_features)}"
            )
        if wants_features:
            candidates["candidate_features"] = np.asarray(candidate_features, dtype=np.float32)  # [B, C, F']
        missing = [name for name in CACHE_NAMES if name not in cache]
        if missing or cache[CACHE_NAMES[0]].shape[0] != batch:
            raise ValueError(
                f"`cache` must be `encode(history_features)` for these {batch} visitors. "
                f"Received: keys {sorted(cache)}, "
                f"batch {None if missing else cache[CACHE_NAMES[0]].shape[0]}"
            )
        count = items.shape[1]
        padded = -(-count // self.chunk_size) * self.chunk_size
        candidates = {
            name: np.pad(value, [(0, 0), (0, padded - count)] + [(0, 0)] * (value.ndim - 2))
            for name, value in candidates.items()
        }  # [B, chunks * chunk (, F')]
        fixed = {**history, **{name: cache[name] for name in CACHE_NAMES}}
        logits = [np.zeros((batch, 0, self.num_actions), dtype=np.float32)]
        for start in range(0, padded, self.chunk_size):
            chunk = slice(start, start + self.chunk_size)
            logits.append(
                self.candidate_scorer.predict_on_batch(
                    {**fixed, **{name: value[:, chunk] for name, value in candidates.items()}}
                )
            )  # [B, chunk, A]
        return np.concatenate(logits, axis=1)[:, :count]  # [B, C, A]


def _history_arrays(history_features):
    missing = [name for name in HISTORY_FEATURES if name not in history_features]
    if missing:
        raise ValueError(
            f"`history_features` lacks {missing}; it must hold {list(HISTORY_FEATURES)}. "
            f"Received: keys {sorted(history_features)}"
        )
    return {
        name: np.asarray(
            history_features[name],
            dtype=np.float32 if name == "history_age_hours" else np.int32,
        )
        for name in HISTORY_FEATURES
    }
