"""The retrieval stage: a two-tower model whose user tower is a causal transformer over the history.

May import: `layers`, `datasets`. Nothing else of `app`.
"""
