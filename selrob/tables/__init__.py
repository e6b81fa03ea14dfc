"""Tidy tables for notebooks and the CLI: runs, evaluations, and the aggregates figures plot."""
