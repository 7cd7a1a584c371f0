"""The recommender: its commands on top (`fit`, `evaluate`, `recommend`, `bench`), its parts in packages below.

README "Layout" draws the packages and their arrows; each package's `__init__.py` says what it holds and what
it may import.
"""
