"""Proof: run an image on a real engine under a host's constraints, and compare with the verdict."""
