"""Plain, versioned, JSON-serialisable facts and verdicts."""
