"""A plain-JAX forward pass and train step of `PhoenixRanker`, written from the formulas.

The test oracle of the Keras model (`tests/test_ranker_jax_reference.py`) and the
baseline of `app.bench`: the same network in `jax.numpy` / `jax.nn` only, with
the weights in a nested dict of arrays.

```python
params = params_from_keras(model)                       # nested dict of jnp arrays
logits = forward(params, config, features)              # [B, C, 3]
logits = jit_forward(config)(params, features)          # the same, jitted
step = make_train_step(config)                          # jitted
opt_state = optimizer(config).init(params)
params, opt_state, loss = step(params, opt_state, features, labels, mask)
```

`config` is anything with the `TrainConfig` model fields (a `TrainConfig`, or
a model's `get_config()` wrapped in `types.SimpleNamespace`).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from layers.masked_logit import MASKED_LOGIT

EPSILON = 1e-6
"""RMSNorm epsilon (the `RMSNorm` and `DecoderBlock` default)."""
MAX_WAVELENGTH = 10_000.0
"""Rotary embedding's longest wavelength (the `GroupedQueryAttention` default)."""
HASH_SEEDS = {"visitor_embedding": 1, "item_embedding": 2, "category_embedding": 3}
"""The `seed=` of each `MultiHashEmbedding` in `app.ranker.model.PhoenixRanker`."""
ADAM_EPSILON = 1e-7
"""`keras.optimizers.AdamW`'s default epsilon."""

_UINT32 = 0xFFFFFFFF


def _fmix32_int(value):
    """Murmur3's 32-bit finaliser on a Python int."""
    value &= _UINT32
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & _UINT32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & _UINT32
    return value ^ (value >> 16)


def hash_constants(seed, index):
    """`(salt, multiplier)` of hash function `index` of a table seeded `seed`, as uint32 ints."""
    salt = _fmix32_int(seed * 0x9E3779B1 + 2 * index + 1)
    return salt, _fmix32_int(salt ^ 0x27D4EB2F) | 1


def _fmix32(x):
    """Murmur3's 32-bit finaliser on uint32 arrays (wrapping multiplies, logical shifts)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x85EBCA6B)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def hash_buckets(ids, num_buckets, seed, num_hashes):
    """Bucket of every id in every table, `[..., num_hashes]` int32; ids `<= 0` map to 0."""
    ids = jnp.asarray(ids, jnp.int32)  # [...]
    as_uint = jax.lax.bitcast_convert_type(ids, jnp.uint32)  # [...]
    buckets = []
    for index in range(num_hashes):
        salt, multiplier = hash_constants(seed, index)
        mixed = _fmix32((as_uint ^ jnp.uint32(salt)) * jnp.uint32(multiplier))  # [...]
        mixed = mixed & jnp.uint32(0x7FFFFFFF)  # [...]
        bucket = 1 + (mixed % jnp.uint32(num_buckets - 1)).astype(jnp.int32)  # [...]
        buckets.append(jnp.where(ids > 0, bucket, 0))
    return jnp.stack(buckets, axis=-1)  # [..., num_hashes]


def _matmul(x, kernel, dtype):
    """`x @ kernel` in `dtype` (float32 accumulation is left to XLA)."""
    return jnp.matmul(x.astype(dtype), kernel.astype(dtype))


def multi_hash_embedding(table_params, ids, seed, dtype):
    """`MultiHashEmbedding`: concatenated hashed rows, projected, zero on padding; `[..., D]`."""
    tables = table_params["tables"]
    buckets = hash_buckets(ids, tables[0].shape[0], seed, len(tables))  # [..., N]
    rows = [table[buckets[..., i]].astype(dtype) for i, table in enumerate(tables)]
    embedded = _matmul(jnp.concatenate(rows, axis=-1), table_params["projection"], dtype)
    return embedded * (ids > 0)[..., None].astype(dtype)  # [..., D]


def age_buckets(ages, num_buckets, max_age_hours):
    """`LogBucketEmbedding` bucket `1 + floor(log1p(age) / log1p(max) * (n - 1))`, in `[1, n-1]`."""
    ages = jnp.maximum(jnp.asarray(ages, jnp.float32), 0.0)  # [...]
    scaled = jnp.log1p(ages) / math.log1p(max_age_hours) * (num_buckets - 1)
    return jnp.clip(1 + jnp.floor(scaled).astype(jnp.int32), 1, num_buckets - 1)


def candidate_history_match(candidate_item_id, history_item_id, history_action, history_age_hours, max_age_hours):
    """`CandidateHistoryMatch`: per action log1p(count) and recency of the candidate in the history, and seen."""
    same = (candidate_item_id[:, :, None] == history_item_id[:, None, :]) & (history_item_id > 0)[:, None, :]
    ages = jnp.asarray(history_age_hours, jnp.float32)[:, None, :]  # [B, 1, S]
    counts, recencies = [], []
    for action in (1, 2, 3):
        match = same & (jnp.asarray(history_action) == action)[:, None, :]  # [B, C, S]
        count = match.sum(-1).astype(jnp.float32)  # [B, C]
        latest = jnp.min(jnp.where(match, ages, jnp.inf), axis=-1)  # [B, C]
        recency = 1.0 - jnp.log1p(jnp.maximum(latest, 0.0)) / math.log1p(max_age_hours)
        counts.append(jnp.log1p(count))
        recencies.append(jnp.where(count > 0, jnp.clip(recency, 0.0, 1.0), 0.0))
    seen = same.any(-1).astype(jnp.float32)  # [B, C]
    return jnp.stack(counts + recencies + [seen], axis=-1)  # [B, C, 7]


def rms_norm(x, scale, dtype):
    """`x / sqrt(mean(x^2) + eps) * scale`, in float32, returned in `dtype`."""
    x = x.astype(jnp.float32)  # [..., D]
    normed = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + EPSILON)
    return (normed * scale.astype(jnp.float32)).astype(dtype)


def rotate(x, positions, dtype):
    """Rotary embedding of `x [B, T, N, Dh]` at integer `positions [B, T]`, half-split pairs."""
    half = x.shape[-1] // 2
    inverse_frequency = MAX_WAVELENGTH ** (-jnp.arange(half, dtype=jnp.float32) / half)  # [Dh/2]
    angles = positions.astype(jnp.float32)[..., None] * inverse_frequency  # [B, T, Dh/2]
    cos, sin = jnp.cos(angles)[:, :, None, :], jnp.sin(angles)[:, :, None, :]  # [B, T, 1, Dh/2]
    x = x.astype(jnp.float32)
    first, second = x[..., :half], x[..., half:]  # [B, T, N, Dh/2]
    rotated = jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
    return rotated.astype(dtype)  # [B, T, N, Dh]


def isolation_mask(history_mask, candidate_mask):
    """`[B, T, T]` bool: causal over customer + history; a candidate sees the prefix and itself."""
    batch, history_length = history_mask.shape
    valid = jnp.concatenate(
        [jnp.ones((batch, 1), bool), history_mask, candidate_mask], axis=1
    )  # [B, T]
    index = jnp.arange(valid.shape[1])  # [T]
    query, key = index[:, None], index[None, :]  # [T, 1], [1, T]
    allowed = ((key <= history_length) & (key <= query)) | (key == query)  # [T, T]
    return allowed[None] & valid[:, :, None] & valid[:, None, :]  # [B, T, T]


def sequence_positions(history_mask, candidate_mask):
    """`[B, T]` int32: customer 0, k-th valid event k, valid candidates n_valid + 1, padding 0."""
    history = history_mask.astype(jnp.int32)  # [B, S]
    candidates = candidate_mask.astype(jnp.int32)  # [B, C]
    next_position = jnp.sum(history, axis=1, keepdims=True) + 1  # [B, 1]
    return jnp.concatenate(
        [jnp.zeros_like(next_position), jnp.cumsum(history, axis=1) * history,
         next_position * candidates],
        axis=1,
    )  # [B, T]


def attention(block, x, positions, mask, config, dtype):
    """Grouped-query attention with rotary positions and `cap * tanh(logits / cap)` logits."""
    batch, time, _ = x.shape
    kv_heads = config.num_key_value_heads
    groups = config.num_query_heads // kv_heads
    x = x.astype(dtype)
    query = jnp.einsum("btd,dnh->btnh", x, block["query"].astype(dtype))  # [B, T, H, Dh]
    key = jnp.einsum("btd,dkh->btkh", x, block["key"].astype(dtype))  # [B, T, K, Dh]
    value = jnp.einsum("btd,dkh->btkh", x, block["value"].astype(dtype))  # [B, T, K, Dh]
    query = rotate(query, positions, dtype)  # [B, T, H, Dh]
    key = rotate(key, positions, dtype)  # [B, T, K, Dh]
    query = query.reshape(batch, time, kv_heads, groups, config.key_size)  # [B, T, K, G, Dh]
    logits = jnp.einsum("btkgh,bskh->bkgts", query, key).astype(jnp.float32)  # [B, K, G, T, T]
    multiplier = getattr(config, "attn_output_multiplier", None)
    logits = logits * (config.key_size**-0.5 if multiplier is None else multiplier)
    if config.logit_cap is not None:
        logits = config.logit_cap * jnp.tanh(logits / config.logit_cap)
    mask = mask[:, None, None]  # [B, 1, 1, T, T]
    probs = jax.nn.softmax(jnp.where(mask, logits, MASKED_LOGIT), axis=-1)  # [B, K, G, T, T]
    probs = (probs * jnp.any(mask, axis=-1, keepdims=True)).astype(dtype)  # [B, K, G, T, T]
    encoded = jnp.einsum("bkgts,bskh->btkgh", probs, value)  # [B, T, K, G, Dh]
    encoded = encoded.reshape(batch, time, config.num_query_heads, config.key_size)  # [B, T, H, Dh]
    return jnp.einsum("btnh,nhd->btd", encoded, block["output"].astype(dtype))  # [B, T, D]


def decoder_block(block, h, positions, mask, config, dtype):
    """Grok block: `h += norm2(attn(norm1 h))`, `h += norm4(W2(gelu(W1 x) * V x))`, x = norm3 h."""
    attended = attention(block, rms_norm(h, block["norm_1"], dtype), positions, mask, config, dtype)
    h = h + rms_norm(attended, block["norm_2"], dtype)  # [B, T, D]
    x = rms_norm(h, block["norm_3"], dtype)  # [B, T, D]
    gated = jax.nn.gelu(_matmul(x, block["ffn_gate"], dtype), approximate=True) * _matmul(
        x, block["ffn_linear"], dtype
    )  # [B, T, F]
    return h + rms_norm(_matmul(gated, block["ffn_output"], dtype), block["norm_4"], dtype)


def forward(params, config, inputs, dtype=jnp.float32):
    """Logits `[B, C, 3]` (float32) of `PhoenixRanker` for the feature dict `inputs`.

    Args:
        params: the pytree of `params_from_keras`.
        config: an object with the model fields of `TrainConfig`.
        inputs: the model's input dict (arrays).
        dtype: compute dtype (`jnp.bfloat16` mirrors `mixed_bfloat16`); norms,
            rotary, softmax and the head stay float32.
    """
    history_item_id = jnp.asarray(inputs["history_item_id"], jnp.int32)  # [B, S]
    candidate_item_id = jnp.asarray(inputs["candidate_item_id"], jnp.int32)  # [B, C]
    history_mask, candidate_mask = history_item_id > 0, candidate_item_id > 0  # [B, S], [B, C]
    num_candidates = candidate_item_id.shape[1]

    def hashed(name, ids):
        ids = jnp.asarray(ids, jnp.int32)
        return multi_hash_embedding(params[name], ids, HASH_SEEDS[name], dtype)

    action_table = params["action_embedding"].astype(dtype)  # [4, D]
    ages = age_buckets(
        inputs["history_age_hours"], config.num_age_buckets, config.max_age_hours
    )  # [B, S]
    customer = hashed("visitor_embedding", inputs["visitor_id"])[:, None, :]  # [B, 1, D]
    history = jnp.concatenate(
        [
            hashed("item_embedding", history_item_id),  # [B, S, D]
            hashed("category_embedding", inputs["history_category_id"]),  # [B, S, D]
            action_table[jnp.asarray(inputs["history_action"], jnp.int32)],  # [B, S, D]
            params["age_embedding"].astype(dtype)[ages],  # [B, S, D]
        ],
        axis=-1,
    )  # [B, S, 4D]
    history = _matmul(history, params["history_projection"], dtype)  # [B, S, D]
    candidate_parts = [
        hashed("item_embedding", candidate_item_id),  # [B, C, D]
        hashed("category_embedding", inputs["candidate_category_id"]),  # [B, C, D]
        jnp.broadcast_to(action_table[0], candidate_item_id.shape + action_table.shape[1:]),
    ]
    if config.use_history_match:
        match = candidate_history_match(
            candidate_item_id,
            history_item_id,
            inputs["history_action"],
            inputs["history_age_hours"],
            config.max_age_hours,
        )  # [B, C, 7]
        candidate_parts.append(match.astype(dtype))
    if config.use_category_match:
        category_match = candidate_history_match(
            inputs["candidate_category_id"],
            inputs["history_category_id"],
            inputs["history_action"],
            inputs["history_age_hours"],
            config.max_age_hours,
        )  # [B, C, 7]
        candidate_parts.append(category_match.astype(dtype))
    if config.num_candidate_features:
        candidate_parts.append(jnp.asarray(inputs["candidate_features"], dtype))  # [B, C, F']
    candidates = jnp.concatenate(candidate_parts, axis=-1)  # [B, C, 3D (+ 7) (+ 7) (+ F')]
    candidates = _matmul(candidates, params["candidate_projection"], dtype)  # [B, C, D]

    h = jnp.concatenate([customer, history, candidates], axis=1)  # [B, T, D]
    mask = isolation_mask(history_mask, candidate_mask)  # [B, T, T]
    positions = sequence_positions(history_mask, candidate_mask)  # [B, T]
    for block in params["blocks"]:
        h = decoder_block(block, h, positions, mask, config, dtype)  # [B, T, D]
    h = rms_norm(h, params["final_norm"], dtype)[:, -num_candidates:, :]  # [B, C, D]
    return _matmul(h, params["action_logits"], jnp.float32)  # [B, C, A]


def jit_forward(config, dtype=jnp.float32):
    """`forward` for `config` and `dtype`, jitted: `(params, inputs) -> logits [B, C, 3]`."""
    return jax.jit(lambda params, inputs: forward(params, config, inputs, dtype))


def params_from_keras(model):
    """Copies a `PhoenixRanker`'s weights into the nested dict that `forward` reads (float32)."""
    weights = {variable.path: jnp.asarray(np.asarray(variable.value), jnp.float32)
               for variable in model.weights}

    def hashed(name):
        tables = sorted(
            (path for path in weights if path.startswith(f"{name}/table_")),
            key=lambda path: int(path.split("/")[1].split("_")[1]),
        )
        return {"tables": [weights[path] for path in tables],
                "projection": weights[f"{name}/projection/kernel"]}

    blocks = []
    for index in range(model.num_layers):
        prefix = f"decoder_stack/block_{index}"
        block = {f"norm_{i}": weights[f"{prefix}/norm_{i}/scale"] for i in range(1, 5)}
        for name in ("query", "key", "value"):
            block[name] = weights[f"{prefix}/attention/{name}/kernel"]
        block["output"] = weights[f"{prefix}/attention/attention_output/kernel"]
        for name in ("ffn_gate", "ffn_linear", "ffn_output"):
            block[name] = weights[f"{prefix}/{name}/kernel"]
        blocks.append(block)
    return {
        **{name: hashed(name) for name in HASH_SEEDS},
        "action_embedding": weights["action_embedding/embeddings"],
        "age_embedding": weights["age_embedding/embedding/embeddings"],
        "history_projection": weights["history_projection/kernel"],
        "candidate_projection": weights["candidate_projection/kernel"],
        "blocks": blocks,
        "final_norm": weights["final_norm/scale"],
        "action_logits": weights["action_logits/kernel"],
    }


def weighted_loss(logits, labels, mask, action_weights):
    """`sum_a w_a * bce(labels, logits)` per candidate, masked, over the number of valid ones."""
    logits = logits.astype(jnp.float32)  # [B, C, A]
    labels = jnp.asarray(labels, jnp.float32)  # [B, C, A]
    bce = jnp.maximum(logits, 0.0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits)))
    per_candidate = jnp.sum(bce * jnp.asarray(action_weights, jnp.float32), axis=-1)  # [B, C]
    mask = jnp.asarray(mask, jnp.float32)  # [B, C]
    return jnp.sum(per_candidate * mask) / jnp.maximum(jnp.sum(mask), 1e-7)


def optimizer(config):
    """optax AdamW with the config's learning rate and weight decay (Keras' epsilon)."""
    return optax.adamw(
        config.learning_rate, eps=ADAM_EPSILON, weight_decay=config.weight_decay
    )


def make_train_step(config, dtype=jnp.float32):
    """A jitted `(params, opt_state, features, labels, mask) -> (params, opt_state, loss)`."""
    tx = optimizer(config)

    def loss_fn(params, features, labels, mask):
        logits = forward(params, config, features, dtype)  # [B, C, A]
        return weighted_loss(logits, labels, mask, config.action_weights)

    @jax.jit
    def train_step(params, opt_state, features, labels, mask):
        loss, grads = jax.value_and_grad(loss_fn)(params, features, labels, mask)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return train_step
