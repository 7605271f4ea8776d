"""Renderers: the same facts for a terminal, a machine or a CI system."""
