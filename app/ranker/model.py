"""The ranker: one transformer over customer, history and isolated candidates."""

import keras
from keras import ops

from datasets.actions import NUM_ACTION_IDS, NUM_ACTIONS
from layers import (
    CandidateHistoryMatch,
    CandidateIsolationMask,
    CandidateTokens,
    DecoderStack,
    LogBucketEmbedding,
    MultiHashEmbedding,
    RMSNorm,
    SequencePositions,
)
from layers.registration import serializable

DECODER_DROPOUT_SEED = 4
"""Seed of the decoder blocks' dropout (block `i` uses `seed + i`); the hashed embeddings use 1, 2 and 3."""


@serializable
class PhoenixRanker(keras.Model):
    """Phoenix-style ranking transformer with candidate isolation.

    The token sequence is `[customer, history (S), candidates (C)]`. Customer and
    history attend causally; every candidate attends to the customer, the valid
    history and itself, never to another candidate, and all candidates share the
    rotary position right after the last valid history event. A candidate's
    logits therefore depend only on the customer, the history and that
    candidate: not on the other candidates, their number, or its slot.

    Visitor and item ids are hashed inside the model (`MultiHashEmbedding`), so a
    saved model takes raw Retail Rocket ids. Categories are hashed too (with a
    smaller table): category ids are sparse integers up to a few thousand, and
    hashing keeps the model free of a vocabulary file and safe for category ids
    it never saw. History tokens concatenate item, category, action and age
    (log-spaced buckets) embeddings and project them to `emb_size`; candidate
    tokens do the same with item, category and the action-0 "candidate" marker,
    plus (unlike Phoenix, with `use_history_match`) `CandidateHistoryMatch`
    features: how often and how recently the visitor touched that very item.
    Re-interaction dominates Retail Rocket; attention alone learns to match a
    candidate against the history only slowly.

    Args:
        emb_size: model width D.
        num_layers: number of decoder blocks.
        num_query_heads: H query heads.
        num_key_value_heads: K key/value heads, `H % K == 0`.
        key_size: width of one head.
        widening_factor: feed-forward width factor (see `layers.decoder_block`).
        num_hashes: hash functions per id.
        visitor_buckets, item_buckets, category_buckets: rows per hash table.
        num_age_buckets: log-spaced age buckets.
        max_age_hours: age mapped to the last bucket.
        attn_output_multiplier: attention logit scale, `None` for `key_size**-0.5`.
        logit_cap: soft cap on attention logits, `None` to disable.
        use_history_match: add `CandidateHistoryMatch` features to the
            candidate tokens.
        use_category_match: add `CandidateHistoryMatch` features of the
            candidate's category against the history's categories (how often
            and how recently the visitor touched that category) to the
            candidate tokens.
        num_candidate_features: F' > 0 adds an input `candidate_features
            [B, C, F']` (float32) of features computed outside the model for each
            candidate (e.g. the retrieval stage's score), concatenated into the
            candidate token before its projection; 0 (the default) has no such input.
        use_visitor_embedding: embed the visitor id into the customer token;
            False makes that token zeros (a key every token may attend to,
            carrying nothing), so nothing can be memorised per visitor.
        dropout_rate: dropout on every decoder block's attention and
            feed-forward outputs while training (seeded).
        embedding_dropout: dropout on the visitor, item and category
            embeddings while training (seeded).
        embedding_l2: weight of the penalty on the visitor, item and category
            hash-table rows a batch looks up (`MultiHashEmbedding`'s
            `rows_l2`), added to the training loss.
        dtype: the dtype policy of every layer (`"float32"`, `"mixed_bfloat16"`,
            ...), saved with the model; `None` uses Keras' global policy. The
            logits are float32 whatever the policy.

    Inputs: a dict with `visitor_id [B]`, `history_item_id`,
    `history_category_id`, `history_action` `[B, S]` (int32),
    `history_age_hours [B, S]` (float32), `candidate_item_id`,
    `candidate_category_id` `[B, C]` (int32); id 0 is padding.

    Outputs: logits `[B, C, 3]` for (transaction, addtocart, view), float32.
    """

    def __init__(
        self,
        emb_size=128,
        num_layers=4,
        num_query_heads=4,
        num_key_value_heads=2,
        key_size=64,
        widening_factor=2.0,
        num_hashes=2,
        visitor_buckets=16_384,
        item_buckets=32_768,
        category_buckets=1_024,
        num_age_buckets=32,
        max_age_hours=24.0 * 180,
        attn_output_multiplier=None,
        logit_cap=30.0,
        use_history_match=True,
        use_category_match=False,
        num_candidate_features=0,
        use_visitor_embedding=True,
        dropout_rate=0.0,
        embedding_dropout=0.0,
        embedding_l2=0.0,
        dtype=None,
        **kwargs,
    ):
        inputs = {
            "visitor_id": keras.Input(shape=(), dtype="int32", name="visitor_id"),
            "history_item_id": keras.Input(shape=(None,), dtype="int32", name="history_item_id"),
            "history_category_id": keras.Input(
                shape=(None,), dtype="int32", name="history_category_id"
            ),
            "history_action": keras.Input(shape=(None,), dtype="int32", name="history_action"),
            "history_age_hours": keras.Input(
                shape=(None,), dtype="float32", name="history_age_hours"
            ),
            "candidate_item_id": keras.Input(
                shape=(None,), dtype="int32", name="candidate_item_id"
            ),
            "candidate_category_id": keras.Input(
                shape=(None,), dtype="int32", name="candidate_category_id"
            ),
        }

        hashed = dict(num_hashes=num_hashes, dropout_rate=embedding_dropout, rows_l2=embedding_l2, dtype=dtype)
        if use_visitor_embedding:
            visitor_embedding = MultiHashEmbedding(
                visitor_buckets, emb_size, seed=1, name="visitor_embedding", **hashed
            )
        item_embedding = MultiHashEmbedding(item_buckets, emb_size, seed=2, name="item_embedding", **hashed)
        category_embedding = MultiHashEmbedding(
            category_buckets, emb_size, seed=3, name="category_embedding", **hashed
        )
        action_embedding = keras.layers.Embedding(
            NUM_ACTION_IDS, emb_size, name="action_embedding", dtype=dtype
        )
        age_embedding = LogBucketEmbedding(
            num_age_buckets, emb_size, max_age_hours, name="age_embedding", dtype=dtype
        )

        history_item_id = inputs["history_item_id"]  # [B, S]
        candidate_item_id = inputs["candidate_item_id"]  # [B, C]
        history_mask = ops.greater(history_item_id, 0)  # [B, S]
        candidate_mask = ops.greater(candidate_item_id, 0)  # [B, C]

        customer = None
        if use_visitor_embedding:
            customer = ops.expand_dims(visitor_embedding(inputs["visitor_id"]), 1)  # [B, 1, D]
        history = ops.concatenate(
            [
                item_embedding(history_item_id),  # [B, S, D]
                category_embedding(inputs["history_category_id"]),  # [B, S, D]
                action_embedding(inputs["history_action"]),  # [B, S, D]
                age_embedding(inputs["history_age_hours"]),  # [B, S, D]
            ],
            axis=-1,
        )  # [B, S, 4D]
        history = keras.layers.Dense(emb_size, use_bias=False, name="history_projection", dtype=dtype)(
            history
        )  # [B, S, D]
        if customer is None:
            customer = ops.zeros_like(history[:, :1])  # [B, 1, D]
        candidate_parts = [
            item_embedding(candidate_item_id),  # [B, C, D]
            category_embedding(inputs["candidate_category_id"]),  # [B, C, D]
            action_embedding(ops.zeros_like(candidate_item_id)),  # [B, C, D]
        ]
        if use_history_match:
            candidate_parts.append(
                CandidateHistoryMatch(max_age_hours, name="candidate_history_match", dtype=dtype)(
                    candidate_item_id,
                    history_item_id,
                    inputs["history_action"],
                    inputs["history_age_hours"],
                )  # [B, C, F]
            )
        if use_category_match:
            candidate_parts.append(
                CandidateHistoryMatch(max_age_hours, name="candidate_category_match", dtype=dtype)(
                    inputs["candidate_category_id"],
                    inputs["history_category_id"],
                    inputs["history_action"],
                    inputs["history_age_hours"],
                )  # [B, C, F]
            )
        if num_candidate_features:
            inputs["candidate_features"] = keras.Input(
                shape=(None, num_candidate_features), dtype="float32", name="candidate_features"
            )
            candidate_parts.append(inputs["candidate_features"])  # [B, C, F']
        candidates = ops.concatenate(candidate_parts, axis=-1)  # [B, C, 3D (+ F) (+ F) (+ F')]
        candidates = keras.layers.Dense(emb_size, use_bias=False, name="candidate_projection", dtype=dtype)(
            candidates
        )  # [B, C, D]

        tokens = ops.concatenate([customer, history, candidates], axis=1)  # [B, T, D]
        isolation_mask = CandidateIsolationMask(name="candidate_isolation_mask", dtype=dtype)
        attention_mask = isolation_mask(history_mask, candidate_mask)  # [B, T, T]
        sequence_positions = SequencePositions(name="sequence_positions", dtype=dtype)
        positions = sequence_positions(history_mask, candidate_mask)  # [B, T]
        decoder_stack = DecoderStack(
            num_layers=num_layers, num_query_heads=num_query_heads, num_key_value_heads=num_key_value_heads,
            key_size=key_size, widening_factor=widening_factor, attn_output_multiplier=attn_output_multiplier,
            logit_cap=logit_cap, dropout_rate=dropout_rate, seed=DECODER_DROPOUT_SEED, name="decoder_stack",
            dtype=dtype,
        )
        hidden = decoder_stack(tokens, positions, attention_mask)  # [B, T, D]
        final_norm = RMSNorm(name="final_norm", dtype=dtype)
        hidden = final_norm(hidden)  # [B, T, D]
        hidden = CandidateTokens(name="candidate_tokens", dtype=dtype)(hidden, candidate_item_id)  # [B, C, D]
        action_logits = keras.layers.Dense(NUM_ACTIONS, use_bias=False, dtype="float32", name="action_logits")
        logits = action_logits(hidden)  # [B, C, A]

        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # What `CachedRanker` reuses: this graph's tokens before the transformer, and the layers after them.
        self.customer_tokens = customer  # [B, 1, D]
        self.history_tokens = history  # [B, S, D]
        self.candidate_tokens = candidates  # [B, C, D]
        self.sequence_positions = sequence_positions
        self.isolation_mask = isolation_mask
        self.decoder_stack = decoder_stack
        self.final_norm = final_norm
        self.action_logits = action_logits

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
        self.attn_output_multiplier = attn_output_multiplier
        self.logit_cap = logit_cap
        self.use_history_match = use_history_match
        self.use_category_match = use_category_match
        self.num_candidate_features = num_candidate_features
        self.use_visitor_embedding = use_visitor_embedding
        self.dropout_rate = dropout_rate
        self.embedding_dropout = embedding_dropout
        self.embedding_l2 = embedding_l2

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
            "attn_output_multiplier": self.attn_output_multiplier,
            "logit_cap": self.logit_cap,
            "use_history_match": self.use_history_match,
            "use_category_match": self.use_category_match,
            "num_candidate_features": self.num_candidate_features,
            "use_visitor_embedding": self.use_visitor_embedding,
            "dropout_rate": self.dropout_rate,
            "embedding_dropout": self.embedding_dropout,
            "embedding_l2": self.embedding_l2,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
