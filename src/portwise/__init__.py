"""portwise: will this container image run on that host, and if not, why and what to do."""

__version__ = "0.1.0"
