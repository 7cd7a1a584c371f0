"""The public session benchmark: its peers, its one scoring code, and our stages scored the same way.

`metrics` ranks each case's target among all items (HR@K, MRR@K); `baselines` the peers (popularity, last-item
transitions, session kNN, V-SKNN); `candidates` the ranker's shortlist and features for a session prefix;
`benchmark` scores every method on the same cases.

May import: `app.two_stage`, `datasets`.
"""
