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


def motif_task(folder, n_train: int = 120, n_test: int = 60, length: int = 40, seed: int = 0,
               val_fraction: float = 0.1):
    """A DNA task file in ``folder`` (train.csv, test.csv, motif.yaml): label ``yes`` where the motif occurs;
    returns the YAML's path."""
    rng = np.random.default_rng(seed)

    def rows(n):
        return "seq,label\n" + "".join(f"{s},{lab}\n" for s, lab in motif_rows(n, length, rng))

    (folder / "train.csv").write_text(rows(n_train))
    (folder / "test.csv").write_text(rows(n_test))
    y = folder / "motif.yaml"
    y.write_text("name: motif\nkind: dna\ntrain: train.csv\ntest: test.csv\nsequence_column: seq\n"
                 f"label_column: label\nsplit: {{val_fraction: {val_fraction}}}\n")
    return y
