"""Validation of a ranker trained on shortlists: the catalogue protocol's figures of its two stages, every epoch."""

from app.evaluation.catalogue import evaluate_catalogue
from app.training.timed_validation import TimedValidation
from app.two_stage.shortlist_ranker import ShortlistRanker

LOGGED_KEYS = ("ndcg@10", "hr@20", "mrr@20")


class ShortlistValidation(TimedValidation):
    """Adds `val_ndcg@10`, `val_hr@20` and `val_mrr@20` to every epoch's logs: the model being trained orders the
    union shortlists of fixed validation queries, ranked among the whole catalogue as the report ranks them.

    Args:
        shortlister: the `UnionShortlister` fitted on the training split.
        queries: the validation `RetrievalQueries` (a fixed subset).
        action_weights: the ranking score's action weights.
        seed: the tie-breaking seed.
    """

    def __init__(self, shortlister, queries, action_weights, seed):
        super().__init__()
        self.shortlister = shortlister
        self.queries = queries
        self.action_weights = action_weights
        self.seed = seed

    def validate(self, epoch, logs):
        scorer = ShortlistRanker(self.model, self.shortlister, self.action_weights)
        figures = evaluate_catalogue(scorer.catalogue_scores, self.queries, self.shortlister.catalog,
                                     self.action_weights, self.seed, baselines=False)["model"]
        for key in LOGGED_KEYS:
            logs[f"val_{key}"] = figures[key]
        return (f"validation NDCG@10 {figures['ndcg@10']:.4f} HR@20 {figures['hr@20']:.4f} "
                f"({figures['lists']} visitors)")
