"""The one action vocabulary: Retail Rocket's event names, their ids in the data, and the label order.

Every package reads the actions from here. Two orders exist on purpose:
- action ids, as stored in the data and fed to the model's history: 0 padding (and the candidate
  marker), 1 view, 2 addtocart, 3 transaction (weakest to strongest);
- the label order, the last axis of labels and logits `[B, C, A]`: transaction, addtocart, view
  (strongest first), so `label_column(action_id) = NUM_ACTIONS - action_id`.
"""

import numpy as np

PADDING = 0
VIEW, ADDTOCART, TRANSACTION = 1, 2, 3

ACTION_IDS = {"view": VIEW, "addtocart": ADDTOCART, "transaction": TRANSACTION}
"""Raw event name -> action id."""

NUM_ACTION_IDS = 4
"""Rows of an action-id embedding: padding (the candidate marker too) plus the three actions."""

ACTION_NAMES = ("transaction", "addtocart", "view")
"""Label order: the last axis of labels and logits `[B, C, A]`."""

NUM_ACTIONS = len(ACTION_NAMES)

DEFAULT_LOSS_WEIGHTS = (10.0, 3.0, 1.0)
"""Loss weight per action in label order, also the weights of the default ranking score."""

RELEVANCE_GRADES = (3.0, 2.0, 1.0)
"""Graded relevance per action in label order: a candidate's strongest action (none 0)."""


def label_column(action_id):
    """Label column (0 transaction, 1 addtocart, 2 view) of action ids (1 view, 2 addtocart, 3 transaction)."""
    return NUM_ACTIONS - np.asarray(action_id)


def weights_by_action_id(label_weights):
    """float32 `[NUM_ACTION_IDS]`: per-action weights given in label order, indexed by action id (0 for padding)."""
    weights = np.zeros(NUM_ACTION_IDS, dtype=np.float32)
    for action_id in (VIEW, ADDTOCART, TRANSACTION):
        weights[action_id] = label_weights[label_column(action_id)]
    return weights
