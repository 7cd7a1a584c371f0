"""Candidate generators: the simple recommenders of e-commerce, each a scorer of the whole catalogue.

Each generator is fitted on the training split's events (`fit(store)`, an `EventStore`) and scores every
catalogue item (`ItemCatalog.item_id` order) for a batch of visitors from their histories, the model's own input
features (`score(features) -> [V, I]`). So each is a peer in every catalogue table, and a shortlist for the
ranker. `app.candidates.peers` fits them all; `app.candidates.shortlist` unites several generators' top items
into one shortlist with every generator's score and rank beside each candidate; `app.candidates.held_out_lists`
gives the out-of-sample shortlists of held-out training events, labelled by their actions, to learn a reranker from.

May import: `datasets`.
"""
