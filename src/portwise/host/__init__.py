"""Level 3A: what a container host provides (kernel, CPU, cgroups, engines), read or catalogued."""
