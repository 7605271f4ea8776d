"""Level 3B: reading container images (sources, layers, analyzers, scan)."""
