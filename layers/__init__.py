"""Custom Keras layers of the Phoenix-style retail ranker.

Importing the package registers every layer for `.keras` loading.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from layers.candidate_history_match import CandidateHistoryMatch  # noqa: E402
from layers.candidate_isolation_mask import CandidateIsolationMask  # noqa: E402
from layers.candidate_tokens import CandidateTokens  # noqa: E402
from layers.decoder_block import DecoderBlock, ffn_width  # noqa: E402
from layers.decoder_stack import DecoderStack  # noqa: E402
from layers.grouped_query_attention import GroupedQueryAttention  # noqa: E402
from layers.last_valid_token import LastValidToken  # noqa: E402, F401
from layers.log_bucket_embedding import LogBucketEmbedding  # noqa: E402
from layers.mask_accidental_hits import MaskAccidentalHits  # noqa: E402, F401
from layers.multi_hash_embedding import MultiHashEmbedding  # noqa: E402
from layers.registration import PACKAGE, serializable  # noqa: E402
from layers.rms_norm import RMSNorm  # noqa: E402
from layers.rotary_embedding import RotaryEmbedding  # noqa: E402
from layers.sampled_softmax_logits import SampledSoftmaxLogits  # noqa: E402, F401
from layers.sequence_positions import SequencePositions  # noqa: E402

__all__ = [
    "PACKAGE",
    "CandidateHistoryMatch",
    "CandidateIsolationMask",
    "CandidateTokens",
    "DecoderBlock",
    "DecoderStack",
    "GroupedQueryAttention",
    "LogBucketEmbedding",
    "MultiHashEmbedding",
    "RMSNorm",
    "RotaryEmbedding",
    "SequencePositions",
    "ffn_width",
    "serializable",
]
