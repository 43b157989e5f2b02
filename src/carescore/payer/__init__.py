"""Payer: composites and star ratings, value-based incentive scenarios, and their commands."""
