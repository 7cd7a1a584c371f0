"""Phoenix's two stages put together: retrieval narrows the catalogue, the cached ranker orders the rest.

`catalogue_ranker` ranks a whole catalogue for a visitor (shortlist plus the visitor's own items);
`shortlist_ranker` orders the candidate generators' union shortlist with a ranker trained on such shortlists;
`timing` measures it on random weights for `app.bench` (cached vs full ranker, exhaustive vs two stages).

May import: `app.candidates` (the union shortlist), `app.ranker`, `app.retrieval`, `datasets`, `layers`.
"""
