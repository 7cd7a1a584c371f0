"""The session benchmark's stage-2 pieces: shortlists and their features, the list softmax, the validation sample."""

import math

import numpy as np
import pytest
import scipy.sparse

from app.ranker.list_softmax_loss import ListSoftmaxCrossEntropy
from app.sessions.candidates import CANDIDATE_FEATURES, SessionShortlists, case_features
from app.training.session_validation import even_sample
from datasets.event_store import ItemCatalog
from datasets.retail_rocket.session_files import SessionCases


class FixedRetrieval:
    """Retrieval scores that do not depend on the prefix: item j scores `j / 10` (item 6 best)."""

    def scores(self, prefix_offsets, prefix_items):
        row = np.concatenate([[-np.inf], np.arange(1, 7) / 10.0])  # [I + 1], I = 6
        return np.tile(row, (len(prefix_offsets) - 1, 1))


def test_case_features_take_the_last_items_aged_by_steps_back():
    features = case_features(np.array([0, 3, 4]), np.array([5, 6, 5, 2]), history_length=4)
    np.testing.assert_array_equal(features["history_item_id"], [[0, 5, 6, 5], [0, 0, 0, 2]])
    np.testing.assert_array_equal(features["history_age_hours"], [[0, 3, 2, 1], [0, 0, 0, 1]])
    np.testing.assert_array_equal(features["history_action"], [[0, 1, 1, 1], [0, 0, 0, 1]])
    np.testing.assert_array_equal(features["visitor_id"], [0, 0])


def test_shortlists_and_their_features_by_hand():
    catalog = ItemCatalog(item_id=np.arange(1, 7), category_id=np.zeros(6), action_counts=np.ones((6, 3)))
    popularity = np.array([0, 1, 3, 0, 7, 2, 9])  # [I + 1]
    transitions = scipy.sparse.csr_matrix((7, 7))
    transitions[2, 5] = 3  # item 2 was followed by 5 three times and by 6 once
    transitions[2, 6] = 1
    shortlists = SessionShortlists(FixedRetrieval(), catalog, popularity, transitions, retrieved=2, history_length=3)
    features = shortlists.shortlists(np.array([0, 2]), np.array([1, 2]))  # one case: prefix [1, 2]
    # The prefix's items, most recent first, then the retrieved ones (6, 5) not among them; 5 slots in all.
    np.testing.assert_array_equal(features["candidate_item_id"], [[2, 1, 6, 5, 0]])
    values = dict(zip(CANDIDATE_FEATURES, np.moveaxis(features["candidate_features"][0], -1, 0)))
    np.testing.assert_allclose(values["retrieval_score_gap"], [-0.4, -0.5, 0.0, -0.1, 0.0], atol=1e-6)
    np.testing.assert_allclose(values["log_retrieval_rank"], np.log1p([2, 2, 0, 1, 0]), atol=1e-6)
    np.testing.assert_allclose(values["log_popularity"], np.log1p([3, 1, 9, 2, 0]), atol=1e-6)
    np.testing.assert_allclose(values["log_transitions"], np.log1p([0, 0, 1, 3, 0]), atol=1e-6)
    np.testing.assert_allclose(values["transition_share"], [0, 0, 0.25, 0.75, 0], atol=1e-6)
    # A training case whose target is 5 does not count its own transition 2 -> 5.
    leak_free = shortlists.shortlists(np.array([0, 2]), np.array([1, 2]), targets=np.array([5]))
    own = dict(zip(CANDIDATE_FEATURES, np.moveaxis(leak_free["candidate_features"][0], -1, 0)))
    np.testing.assert_allclose(own["log_transitions"], np.log1p([0, 0, 1, 2, 0]), atol=1e-6)
    np.testing.assert_allclose(own["transition_share"], [0, 0, 1 / 3, 2 / 3, 0], atol=1e-6)


def test_list_softmax_ignores_padding_and_lists_without_a_positive():
    labels = np.zeros((3, 4, 3), "float32")
    labels[0, 1, 2] = 1.0
    labels[1, 3, 2] = 1.0  # on a padding slot: the list has no real positive
    logits = np.random.default_rng(0).normal(size=(3, 4, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1]], "float32")
    view = logits[0, :3, 2]
    expected = -(view[1] - math.log(np.exp(view).sum()))  # only list 0 counts
    loss = ListSoftmaxCrossEntropy("view")
    assert float(loss(labels, logits, sample_weight=mask)) == pytest.approx(expected, rel=1e-5)
    logits[0, 3, 2] = 50.0  # a huge logit on padding changes nothing
    assert float(loss(labels, logits, sample_weight=mask)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="Received: action='buy'"):
        ListSoftmaxCrossEntropy("buy")


def test_the_validation_sample_is_fixed_and_keeps_whole_cases():
    cases = SessionCases(case_id=np.arange(1, 11), offsets=np.arange(0, 21, 2), items=np.arange(1, 21),
                         target=np.arange(101, 111))
    sample = even_sample(cases, 4)
    np.testing.assert_array_equal(sample.case_id, [1, 4, 7, 10])
    np.testing.assert_array_equal(sample.items, [1, 2, 7, 8, 13, 14, 19, 20])
    np.testing.assert_array_equal(sample.target, [101, 104, 107, 110])
    assert even_sample(cases, 20) is cases and even_sample(cases, 0) is cases
