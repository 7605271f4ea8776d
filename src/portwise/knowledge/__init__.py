"""Versioned data with sources, and the small loaders that validate it."""
