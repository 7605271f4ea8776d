"""ELF facts: what each binary needs from the loader, the kernel and the CPU."""
