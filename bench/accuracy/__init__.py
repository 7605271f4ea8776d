"""Helpers of bench/accuracy.py: image recipes, host variants, probes, enforcement, tallies."""
