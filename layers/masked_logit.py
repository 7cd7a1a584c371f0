"""The one logit every masked place gets: attention outside the mask, accidental hits, padding candidates."""

MASKED_LOGIT = -1e9
"""What a masked logit becomes: `exp(MASKED_LOGIT - max)` is exactly 0 in float32, so the place leaves the softmax
and gets no gradient, while `0 * MASKED_LOGIT` stays finite (unlike `-inf`, which makes a cross-entropy `nan`)."""
