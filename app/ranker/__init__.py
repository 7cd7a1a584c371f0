"""The ranker: Phoenix's candidate-isolated transformer, its loss and metrics, and fast or plain-JAX inference.

Holds the Keras model (`model`), the weighted per-action loss (`loss`) and the listwise one
(`list_softmax_loss`), the per-action score and relevance (`actions`), the Keras metrics over candidate lists
(`metrics`), the inference that encodes a visitor once for any number of candidates (`cached_ranker`) and a
plain-JAX forward pass written from the formulas (`jax_reference`).

May import: `layers`, `datasets.actions`. Nothing else of `app`.
"""
