"""Two stages over the union shortlist: the candidate generators shortlist, the ranker orders the shortlist."""

from app.two_stage.catalogue_ranker import CatalogueRanker, scores_on_catalogue

OUTSIDE_SHORTLIST = -1.0
"""The catalogue score of an item outside the shortlist: below every shortlisted item's (ranking scores are
probabilities times positive action weights, so at least 0)."""


class ShortlistRanker:
    """Orders each visitor's union shortlist with a ranker trained on such shortlists, and ranks it above the rest
    of the catalogue.

    Args:
        ranker: a `PhoenixRanker` taking the shortlist's `candidate_features` (`num_candidate_features = 3G`).
        shortlister: a fitted `app.candidates.shortlist.UnionShortlister` over the catalogue to rank.
        action_weights: the ranking score's action weights.
    """

    def __init__(self, ranker, shortlister, action_weights):
        self.shortlister = shortlister
        self.catalog = shortlister.catalog
        self.ranker = CatalogueRanker(ranker, self.catalog, action_weights, chunk_size=shortlister.size)

    def score(self, features):
        """`(candidates [B, M], probabilities [B, M, A], scores [B, M])` of the visitors' shortlists; padding
        candidates score -inf."""
        shortlists = self.shortlister.shortlists(features)
        return self.ranker.score(features, shortlists.item_id, shortlists.candidate_features())

    def catalogue_scores(self, features):
        """float32 `[B, I]`: the ranker's scores on the shortlist, `OUTSIDE_SHORTLIST` on the rest of the
        catalogue (`catalog.item_id` order)."""
        items, _, scores = self.score(features)  # [B, M], [B, M]
        return scores_on_catalogue(self.catalog, items, scores, OUTSIDE_SHORTLIST)
