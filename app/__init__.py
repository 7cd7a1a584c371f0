"""The ranker, its training and evaluation commands."""

