"""Custom Keras layers of the Phoenix-style retail ranker and its retrieval stage.

Importing the package registers every layer for `.keras` loading.
"""

from layers.candidate_history_match import CandidateHistoryMatch
from layers.candidate_isolation_mask import CandidateIsolationMask
from layers.candidate_tokens import CandidateTokens
from layers.decoder_block import DecoderBlock, ffn_width
from layers.decoder_stack import DecoderStack
from layers.grouped_query_attention import GroupedQueryAttention
from layers.last_valid_token import LastValidToken
from layers.log_bucket_embedding import LogBucketEmbedding
from layers.mask_accidental_hits import MaskAccidentalHits
from layers.multi_hash_embedding import MultiHashEmbedding
from layers.registration import PACKAGE, serializable
from layers.rms_norm import RMSNorm
from layers.rotary_embedding import RotaryEmbedding
from layers.sampled_softmax_logits import SampledSoftmaxLogits
from layers.sequence_positions import SequencePositions

__all__ = [
    "PACKAGE",
    "CandidateHistoryMatch",
    "CandidateIsolationMask",
    "CandidateTokens",
    "DecoderBlock",
    "DecoderStack",
    "GroupedQueryAttention",
    "LastValidToken",
    "LogBucketEmbedding",
    "MaskAccidentalHits",
    "MultiHashEmbedding",
    "RMSNorm",
    "RotaryEmbedding",
    "SampledSoftmaxLogits",
    "SequencePositions",
    "ffn_width",
    "serializable",
]
