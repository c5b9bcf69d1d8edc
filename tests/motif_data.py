"""Synthetic DNA for tests: random sequences, half of them with a 6-nt motif planted at a random position."""
from __future__ import annotations

import numpy as np

MOTIF = "TGACGT"


def motif_rows(n: int, length: int = 40, rng: np.random.Generator | int = 0) -> list[tuple[str, str]]:
    """``n`` (sequence, label) pairs, label ``yes`` (odd rows: the motif planted) or ``no`` (motif absent);
    ``rng``: a generator (drawn from in order) or a seed."""
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    out = []
    for i in range(n):
        s = "".join(rng.choice(list("ACGT"), length))
        while MOTIF in s:
            s = "".join(rng.choice(list("ACGT"), length))
        if i % 2:
            p = int(rng.integers(0, length - len(MOTIF) + 1))
            s = s[:p] + MOTIF + s[p + len(MOTIF):]
        out.append((s, "yes" if i % 2 else "no"))
    return out
