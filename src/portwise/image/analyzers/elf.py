"""The ELF analyzer: every file whose first bytes are an ELF header, whatever its name."""

from __future__ import annotations

from typing import Any

from portwise.elf.facts import elf_facts
from portwise.elf.parse import ElfError, parse_elf

MIN_ELF_SIZE = 52  # a 32-bit ELF header


class ElfAnalyzer:
    name = "elf"
    version = 10  # 6: every ELF scanned, syscall() paths; 7: jump stubs; 8: Debian Rust; 9: text
    # 10: cpu required/required_level, dispatch decided per use

    def __init__(self, *, cpu_scan: bool = False) -> None:
        self.cpu_scan = cpu_scan
        self.options = "+cpu" if cpu_scan else ""  # part of the cache key

    def wants(self, path: str, size: int, mode: int) -> bool:
        return size >= MIN_ELF_SIZE

    def analyze(self, path: str, content: bytes) -> Any:
        if not content.startswith(b"\x7fELF"):
            return None
        try:
            elf = parse_elf(content)
        except ElfError as exc:
            raise ValueError(f"malformed ELF file: {exc}") from None
        return elf_facts(elf, content, cpu_scan=self.cpu_scan)
