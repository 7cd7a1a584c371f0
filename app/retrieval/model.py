"""The retrieval stage: a two-tower model whose user tower is a causal transformer over the history."""

import keras
import keras_rs
import numpy as np
from keras import ops

from datasets.actions import NUM_ACTION_IDS
from layers import (
    CandidateIsolationMask,
    DecoderStack,
    LastValidToken,
    LogBucketEmbedding,
    MultiHashEmbedding,
    RMSNorm,
    SequencePositions,
)
from layers.registration import serializable

USER_FEATURES = ("visitor_id", "history_item_id", "history_category_id", "history_action", "history_age_hours")
"""The user tower's inputs: the ranker's customer and history features."""

ITEM_FEATURES = ("item_id", "category_id")
"""The item tower's inputs."""


def user_feature_inputs():
    """Fresh `keras.Input`s of the user features, keyed by name (`USER_FEATURES`)."""
    return {
        "visitor_id": keras.Input(shape=(), dtype="int32", name="visitor_id"),
        "history_item_id": keras.Input(shape=(None,), dtype="int32", name="history_item_id"),
        "history_category_id": keras.Input(shape=(None,), dtype="int32", name="history_category_id"),
        "history_action": keras.Input(shape=(None,), dtype="int32", name="history_action"),
        "history_age_hours": keras.Input(shape=(None,), dtype="float32", name="history_age_hours"),
    }


def user_embedding_of_state(state, normalization, item_bias):
    """The user embedding `[..., E]` of final hidden states `[..., D]`: normalised by `normalization` (a layer, or
    None for none), then float32, and with a column of ones appended when the model has an item bias."""
    if normalization is not None:
        state = normalization(state)  # [..., D]
    state = ops.cast(state, "float32")  # [..., D]
    if item_bias:
        state = ops.concatenate([state, ops.ones_like(state[..., :1])], axis=-1)  # [..., D + 1]
    return state


@serializable
class RetrievalModel(keras.Model):
    """Phoenix-style two-tower retrieval: user and item embeddings in one space.

    The user tower runs a causal transformer (`DecoderStack`; the
    `CandidateIsolationMask` with no candidates is causal) over
    `[customer, history (S)]`, built like the ranker's tokens (hashed visitor,
    item and category ids, action and, with `use_age_embedding`, log-bucketed
    age), and takes the final state at the last valid token: it has seen the
    whole history and no padding. The item tower passes the hashed item and
    category embeddings through a two-layer MLP (SiLU), or, with
    `tied_item_tower`, is their sum: an item's vector is then the very
    embedding its history tokens start from. The item and category hash tables
    are shared by the history tokens and the item tower either way. With
    `normalize` both towers end with an L2 normalisation (cosine similarity);
    without it the score is a plain dot product. A (history, item) pair scores
    `(dot(user, item) + bias(item)) / temperature`, where the hashed per-item
    bias exists only with `item_bias`. The bias rides inside the embeddings:
    the item embedding ends with the bias and the user embedding with a 1, so
    every consumer scores with a dot product of `embedding_size` columns.

    `sequence_tower()` is the user tower without the last-token pick: its output
    at history position `p` is the user embedding of the history ending at `p`
    (the prefix), so one call scores the next item at every position of a
    session. That holds when the tokens do not depend on where the history ends,
    i.e. without the age embedding (ages are counted back from the end).

    Serving embeds the catalogue once (`item_embeddings`, or
    `retrieval_index`, a `keras_rs.layers.BruteForceRetrieval` over it) and each
    visitor's history (`user_embeddings`); the sub-models `user_tower` and
    `item_tower` are Keras models of their own.

    Args:
        emb_size: model width D, also the width of the embeddings.
        num_layers: decoder blocks of the user tower.
        num_query_heads: H query heads.
        num_key_value_heads: K key/value heads, `H % K == 0`.
        key_size: width of one head, even.
        widening_factor: feed-forward width factor (see `layers.decoder_block`).
        num_hashes: hash functions per id.
        visitor_buckets, item_buckets, category_buckets: rows per hash table.
        num_age_buckets: log-spaced age buckets.
        max_age_hours: age mapped to the last bucket.
        logit_cap: soft cap on attention logits, `None` to disable.
        temperature: divides the score.
        use_age_embedding: bool, history tokens include the age embedding.
        normalize: bool, L2-normalise both towers' embeddings.
        item_bias: bool, add a learned per-item bias to the score.
        tied_item_tower: bool, the item vector is the sum of the item's and its
            category's embeddings (no MLP).
        dropout_rate: float in [0, 1), dropout on the history tokens and in
            every decoder block while training.

    Inputs: a dict with `visitor_id [B]`, `history_item_id`,
    `history_category_id`, `history_action` `[B, S]` (int32),
    `history_age_hours [B, S]` (float32), `item_id`, `category_id` `[B]`
    (int32); id 0 is padding.

    Outputs: the score `[B]` of each row's history against its item, float32.
    """

    def __init__(
        self,
        emb_size=64,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        key_size=32,
        widening_factor=2.0,
        num_hashes=2,
        visitor_buckets=16_384,
        item_buckets=32_768,
        category_buckets=1_024,
        num_age_buckets=32,
        max_age_hours=24.0 * 180,
        logit_cap=30.0,
        temperature=0.1,
        use_age_embedding=True,
        normalize=True,
        item_bias=False,
        tied_item_tower=False,
        dropout_rate=0.0,
        **kwargs,
    ):
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature}")
        if not 0 <= dropout_rate < 1:
            raise ValueError(f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}")
        item_embedding = MultiHashEmbedding(
            item_buckets, emb_size, num_hashes=num_hashes, seed=2, name="item_embedding"
        )
        category_embedding = MultiHashEmbedding(
            category_buckets, emb_size, num_hashes=num_hashes, seed=3, name="category_embedding"
        )
        user_normalization = (
            keras.layers.UnitNormalization(dtype="float32", name="user_normalization") if normalize else None
        )

        user_inputs = user_feature_inputs()
        history_item_id = user_inputs["history_item_id"]  # [B, S]
        history_mask = ops.greater(history_item_id, 0)  # [B, S]
        no_candidates = history_mask[:, :0]  # [B, 0]
        visitor_embedding = MultiHashEmbedding(
            visitor_buckets, emb_size, num_hashes=num_hashes, seed=1, name="visitor_embedding"
        )
        customer = ops.expand_dims(visitor_embedding(user_inputs["visitor_id"]), 1)  # [B, 1, D]
        history_parts = [
            item_embedding(history_item_id),  # [B, S, D]
            category_embedding(user_inputs["history_category_id"]),  # [B, S, D]
            keras.layers.Embedding(NUM_ACTION_IDS, emb_size, name="action_embedding")(
                user_inputs["history_action"]
            ),  # [B, S, D]
        ]
        if use_age_embedding:
            history_parts.append(
                LogBucketEmbedding(num_age_buckets, emb_size, max_age_hours, name="age_embedding")(
                    user_inputs["history_age_hours"]
                )  # [B, S, D]
            )
        history = ops.concatenate(history_parts, axis=-1)  # [B, S, 3D or 4D]
        history = keras.layers.Dense(emb_size, use_bias=False, name="history_projection")(history)  # [B, S, D]
        tokens = ops.concatenate([customer, history], axis=1)  # [B, T, D]
        if dropout_rate > 0:
            tokens = keras.layers.Dropout(dropout_rate, name="token_dropout")(tokens)  # [B, T, D]
        attention_mask = CandidateIsolationMask(name="causal_mask")(history_mask, no_candidates)  # [B, T, T]
        positions = SequencePositions(name="sequence_positions")(history_mask, no_candidates)  # [B, T]
        hidden = DecoderStack(
            num_layers=num_layers, num_query_heads=num_query_heads, num_key_value_heads=num_key_value_heads,
            key_size=key_size, widening_factor=widening_factor, logit_cap=logit_cap, dropout_rate=dropout_rate,
            name="decoder_stack",
        )(tokens, positions, attention_mask)  # [B, T, D]
        hidden = RMSNorm(name="final_norm")(hidden)  # [B, T, D]
        token_mask = ops.concatenate([ops.ones_like(history_mask[:, :1]), history_mask], axis=1)  # [B, T]
        user = LastValidToken(name="last_valid_token")(hidden, token_mask)  # [B, D]
        user = user_embedding_of_state(user, user_normalization, item_bias)  # [B, E]
        user_tower = keras.Model(user_inputs, user, name="user_tower")
        users_by_position = user_embedding_of_state(hidden[:, 1:], user_normalization, item_bias)  # [B, S, E]

        item_inputs = {
            "item_id": keras.Input(shape=(), dtype="int32", name="item_id"),
            "category_id": keras.Input(shape=(), dtype="int32", name="category_id"),
        }
        item_vector = item_embedding(item_inputs["item_id"])  # [I, D]
        category_vector = category_embedding(item_inputs["category_id"])  # [I, D]
        if tied_item_tower:
            item = item_vector + category_vector  # [I, D]
        else:
            item = ops.concatenate([item_vector, category_vector], axis=-1)  # [I, 2D]
            item = keras.layers.Dense(2 * emb_size, activation="silu", name="item_hidden")(item)  # [I, 2D]
            item = keras.layers.Dense(emb_size, name="item_projection")(item)  # [I, D]
        if normalize:
            item = keras.layers.UnitNormalization(dtype="float32", name="item_normalization")(item)  # [I, D]
        if item_bias:
            bias = MultiHashEmbedding(item_buckets, 1, num_hashes=num_hashes, seed=2, name="item_bias")(
                item_inputs["item_id"]
            )  # [I, 1]
            item = ops.concatenate([ops.cast(item, "float32"), ops.cast(bias, "float32")], axis=-1)  # [I, E]
        item_tower = keras.Model(item_inputs, item, name="item_tower")

        inputs = user_feature_inputs()
        inputs.update({name: keras.Input(shape=(), dtype="int32", name=name) for name in ITEM_FEATURES})
        user = user_tower({name: inputs[name] for name in USER_FEATURES})  # [B, E]
        item = item_tower({name: inputs[name] for name in ITEM_FEATURES})  # [B, E]
        score = ops.sum(user * item, axis=-1) / temperature  # [B]
        super().__init__(inputs=inputs, outputs=score, **kwargs)

        self.user_tower = user_tower
        self.item_tower = item_tower
        self.users_by_position = users_by_position  # [B, S, E]: `sequence_tower`'s output
        self.emb_size = emb_size
        self.num_layers = num_layers
        self.num_query_heads = num_query_heads
        self.num_key_value_heads = num_key_value_heads
        self.key_size = key_size
        self.widening_factor = widening_factor
        self.num_hashes = num_hashes
        self.visitor_buckets = visitor_buckets
        self.item_buckets = item_buckets
        self.category_buckets = category_buckets
        self.num_age_buckets = num_age_buckets
        self.max_age_hours = max_age_hours
        self.logit_cap = logit_cap
        self.temperature = temperature
        self.use_age_embedding = use_age_embedding
        self.normalize = normalize
        self.item_bias = item_bias
        self.tied_item_tower = tied_item_tower
        self.dropout_rate = dropout_rate

    @property
    def embedding_size(self):
        """E, the width of the user and item embeddings: D, plus the bias column with `item_bias`."""
        return self.emb_size + int(self.item_bias)

    def sequence_tower(self):
        """A Keras model sharing the user tower's layers: user features in, `[B, S, E]` embeddings out.

        Its output at history position `p` is the user embedding of the history ending at `p` (equal to the user
        tower's when the model has no age embedding); padded positions give meaningless values.
        """
        return keras.Model(self.user_tower.input, self.users_by_position, name="sequence_tower")

    def user_embeddings(self, features, batch_size=512):
        """float32 `[N, E]` user embeddings of a dict of numpy history features (extra keys ignored).

        Compiled calls of at most `batch_size` histories (`predict_on_batch`): no per-call set-up, so one
        visitor's embedding costs milliseconds.
        """
        features = {name: np.asarray(features[name]) for name in USER_FEATURES}
        count = len(features["visitor_id"])
        chunks = [
            self.user_tower.predict_on_batch({name: value[start : start + batch_size]
                                              for name, value in features.items()})
            for start in range(0, count, batch_size)
        ]
        return np.concatenate([np.asarray(chunk, dtype=np.float32) for chunk in chunks]) if chunks else np.zeros(
            (0, self.embedding_size), np.float32
        )

    def item_embeddings(self, item_id, category_id, batch_size=4096):
        """float32 `[I, E]` item embeddings of item ids `[I]` and their categories `[I]`."""
        features = {"item_id": np.asarray(item_id, np.int32), "category_id": np.asarray(category_id, np.int32)}
        return np.asarray(self.item_tower.predict(features, batch_size=batch_size, verbose=0), dtype=np.float32)

    def retrieval_index(self, item_id, category_id, k, batch_size=4096):
        """A compiled top-`k` search over the items, embedded once: `keras_rs.layers.BruteForceRetrieval`.

        The layer is wrapped in a `keras.Model` so that `index.predict_on_batch(users [B, D])` runs it
        compiled (jitted on JAX; eager, the search over 235K items took 57 ms instead of 2.4 ms). It returns
        the dot products `[B, k]` (highest first) and the item ids `[B, k]` of the `k` best items.
        """
        if not 1 <= k <= len(item_id):
            raise ValueError(f"`k` must be between 1 and the {len(item_id)} items. Received: k={k}")
        search = keras_rs.layers.BruteForceRetrieval(
            candidate_embeddings=self.item_embeddings(item_id, category_id, batch_size),
            candidate_ids=np.asarray(item_id, np.int32),
            k=k,
        )
        users = keras.Input(shape=(self.embedding_size,), dtype="float32", name="user_embedding")
        return keras.Model(users, search(users), name="retrieval_index")

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "emb_size": self.emb_size,
            "num_layers": self.num_layers,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "key_size": self.key_size,
            "widening_factor": self.widening_factor,
            "num_hashes": self.num_hashes,
            "visitor_buckets": self.visitor_buckets,
            "item_buckets": self.item_buckets,
            "category_buckets": self.category_buckets,
            "num_age_buckets": self.num_age_buckets,
            "max_age_hours": self.max_age_hours,
            "logit_cap": self.logit_cap,
            "temperature": self.temperature,
            "use_age_embedding": self.use_age_embedding,
            "normalize": self.normalize,
            "item_bias": self.item_bias,
            "tied_item_tower": self.tied_item_tower,
            "dropout_rate": self.dropout_rate,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
