"""Classification data layer: DNA encoding and loading, images, the stratified split, load_task."""
import numpy as np
import pandas as pd
import pytest

from autofast.data.supervised import known_tasks, load_task
from autofast.data.types import SupervisedData, channel_standardizer, stratified_split
from autofast.data.dna import encode_dna, load_dna
from autofast.data.images import digits, load_images
from autofast.data.registry import DATASETS, resolve_timeseries
from autofast.errors import AutofastError

A, C, G, T = np.eye(4, dtype=np.float32)


def _one_line(exc: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    return msg


# --- encoding ---------------------------------------------------------------------------------------

def test_encode_one_hot_case_and_u():
    x = encode_dna(["ACGT", "acgu"])
    assert x.dtype == np.float32 and x.shape == (2, 4, 4)
    np.testing.assert_array_equal(x[0].T, np.stack([A, C, G, T]))
    np.testing.assert_array_equal(x[1], x[0])


def test_encode_iupac_codes_are_uniform():
    x = encode_dna(["NRYSWKMBDHV"])[0].T
    expect = {"N": "ACGT", "R": "AG", "Y": "CT", "S": "GC", "W": "AT", "K": "GT", "M": "AC",
              "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG"}
    for col, bases in zip(x, expect.values()):
        want = np.zeros(4, np.float32)
        for b in bases:
            want["ACGT".index(b)] = 1 / len(bases)
        np.testing.assert_allclose(col, want)
    np.testing.assert_allclose(x.sum(1), 1.0)


def test_encode_gaps_padding_truncation_and_whitespace():
    x = encode_dna(["  A-C.  ", "ACGTAC"])
    assert x.shape == (2, 4, 6)  # L = longest after stripping
    np.testing.assert_array_equal(x[0].sum(0), [1, 0, 1, 0, 0, 0])  # gaps and end padding are zeros
    short = encode_dna(["ACGTAC"], length=3)
    np.testing.assert_array_equal(short[0].T, np.stack([A, C, G]))  # crop="end" keeps the start
    centre = encode_dna(["ACGTAC"], length=2, crop="center")
    np.testing.assert_array_equal(centre[0].T, np.stack([G, T]))
    padded = encode_dna(["AC"], length=5)
    assert padded.shape == (1, 4, 5) and padded[0, :, 2:].sum() == 0


def test_encode_bad_symbol_names_source_row_symbol_and_fix():
    with pytest.raises(AutofastError) as e:
        encode_dna(["ACGT", "ACXT"], source="my.csv")
    _one_line(e, "my.csv", "row 2", "position 3", "'X'", "remove or replace it", "IUPAC")
    with pytest.raises(AutofastError) as e:
        encode_dna(["AC", "  "], source="s")
    _one_line(e, "row 2", "empty")


# --- DNA files --------------------------------------------------------------------------------------

def test_splice_loads():
    d = load_dna(DATASETS["splice"].path)
    assert d.x.shape == (3190, 4, 60) and d.x.dtype == np.float32 and d.y.dtype == np.int64
    assert d.classes == ["EI", "IE", "N"] and d.num_classes == 3 and d.ndim == 1 and d.kind == "dna"
    np.testing.assert_allclose(d.x.sum(1), 1.0)  # 60 nt each, ambiguity codes still sum to one


def test_dna_csv_tsv_fasta(tmp_path):
    pd.DataFrame({"cls": ["a", "b", "a"], "seq": ["ACGT", " ACG", "TTTT"]}).to_csv(tmp_path / "s.csv", index=False)
    d = load_dna(tmp_path / "s.csv", seq_column="seq", label_column="cls")
    assert d.x.shape == (3, 4, 4) and d.classes == ["a", "b"] and d.y.tolist() == [0, 1, 0]
    pd.DataFrame({"label": ["NA", "N"], "sequence": ["AC", "GT"]}).to_csv(tmp_path / "s.tsv", sep="\t", index=False)
    assert load_dna(tmp_path / "s.tsv").classes == ["N", "NA"]  # "NA" is a label, not a missing value
    (tmp_path / "s.fa").write_text(">r1|EI\nACGT\nAC\n>r2 label=N other\nGGN\n")
    f = load_dna(tmp_path / "s.fa")
    assert f.x.shape == (2, 4, 6) and f.classes == ["EI", "N"]


def test_dna_file_errors(tmp_path):
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "missing.csv")
    _one_line(e, "missing.csv", "does not exist")
    p = tmp_path / "cols.csv"
    pd.DataFrame({"lbl": ["a", "b"], "sequence": ["AC", "GT"]}).to_csv(p, index=False)
    with pytest.raises(AutofastError) as e:
        load_dna(p)
    _one_line(e, str(p), "'label'", "available: lbl, sequence")
    p = tmp_path / "bad.csv"
    pd.DataFrame({"label": ["a", "b", "a"], "sequence": ["AC", "GT", "AZ"]}).to_csv(p, index=False)
    with pytest.raises(AutofastError) as e:
        load_dna(p)
    _one_line(e, str(p), "data row 3", "'Z'", "remove or replace it")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "empty.csv")
    _one_line(e, "empty.csv", "empty")
    (tmp_path / "header.csv").write_text("label,sequence\n")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "header.csv")
    _one_line(e, "header.csv", "no data rows")
    (tmp_path / "hole.csv").write_text("label,sequence\na,ACG\nb,\n")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "hole.csv")
    _one_line(e, "hole.csv", "data row 2", "empty sequence")
    (tmp_path / "one.csv").write_text("label,sequence\na,ACG\na,GGT\n")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "one.csv")
    _one_line(e, "one.csv", "two classes")
    (tmp_path / "nolabel.fasta").write_text(">r1|a\nACG\n>r2\nGGT\n")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "nolabel.fasta")
    _one_line(e, "nolabel.fasta", "record 2", "label=CLASS")


def test_dna_folder_of_one_fasta_file_per_class(tmp_path):
    """gkm-SVM's layout (``gkmtrain pos.fa neg.fa``): each file's records are the class of its name; header labels
    are not read; compressed files count; anything else in the folder is skipped. Was "is a folder" (dna) or "has
    no class folders" (auto: images)."""
    import gzip

    from autofast.data.files import guess_kind, load_file
    from autofast.data.task_file import load_task_file

    for part, shift in (("train", 0), ("test", 1)):
        d = tmp_path / part
        d.mkdir()
        (d / "enhancer.fa").write_text("".join(f">e{i}|ignored\n{'ACGT'[(i + shift) % 4] * 6}\n" for i in range(5)))
        (d / "background.fasta.gz").write_bytes(gzip.compress(b">b0\nCCGG\n>b1\nGGCCAA\n>b2\nATAT\n"))
        (d / "notes.txt").write_text("not a sequence file")
        (d / ".hidden.fa").write_text(">x\nAAAA\n")
    assert guess_kind(tmp_path / "train") == "dna"
    data = load_file(tmp_path / "train")
    assert data.classes == ["background", "enhancer"] and data.y.tolist() == [0] * 3 + [1] * 5
    assert data.x.shape == (8, 4, 6) and data.x[0, :, 4:].sum() == 0  # CCGG padded to the longest record
    (tmp_path / "t.yaml").write_text("train: train\ntest: test\n")
    _, merged, _ = load_task_file(tmp_path / "t.yaml")
    assert len(merged.y) == 16 and merged.classes == ["background", "enhancer"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    with pytest.raises(AutofastError) as e:
        load_dna(empty)
    _one_line(e, "empty", "without FASTA files", "one FASTA file per class")
    with pytest.raises(AutofastError) as e:
        load_dna(tmp_path / "train", target="regression")
    _one_line(e, "one class per file")


def test_other_fasta_suffixes_fasta_by_content_and_fastq_refused(tmp_path):
    """'.fas' was an unknown type; a FASTA saved as '.fa.txt' with 'kind: dna' was read as a table ("column(s)
    'sequence', 'label' not found"); FASTQ got the same table error: one line with a conversion now."""
    from autofast.data.files import guess_kind, load_file

    text = ">a label=x\nACGT\n>b label=y\nTTGA\n"
    (tmp_path / "s.fas").write_text(text)
    (tmp_path / "s.fa.txt").write_text(text)
    assert guess_kind(tmp_path / "s.fas") == "dna" and load_file(tmp_path / "s.fas").classes == ["x", "y"]
    assert load_file(tmp_path / "s.fa.txt", "dna").classes == ["x", "y"]
    (tmp_path / "r.fastq").write_text("@r1\nACGT\n+\nIIII\n")
    for kind in ("auto", "dna"):
        with pytest.raises(AutofastError) as e:
            load_file(tmp_path / "r.fastq", kind)
        _one_line(e, "r.fastq", "FASTQ reads are not read", "seqtk seq -a")


def test_one_outlier_length_is_refused_with_the_fix():
    """One 20 000-nt record among 100-nt ones: every sequence padded to it, and the search's step-cost measurement ran
    for minutes past a 30 s budget without a word. One line naming the record and 'length:' now."""
    from autofast.data.dna import encode_dna

    seqs = ["ACGT" * 25] * 50 + ["A" * 20000]
    with pytest.raises(AutofastError) as e:
        encode_dna(seqs, source="f.fa", unit="record")
    _one_line(e, "record 51 is 20000 nt long", "length:")
    assert encode_dna(seqs, 100).shape == (51, 4, 100)  # with a length given: cut, as documented


def test_a_test_file_of_longer_sequences_sets_the_length(tmp_path):
    """train 100 nt, test 150 nt: the test sequences were cut to 100 without a word (a motif past position 100:
    validation 1.0, test 0.5). The longest sequence of any official file sets the padded length."""
    from autofast.data.task_file import load_task_file

    rng = np.random.default_rng(0)
    for part, n, length in (("tr", 20, 100), ("te", 10, 150)):
        seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
        (tmp_path / f"{part}.fa").write_text("".join(f">s{i} label={'ab'[i % 2]}\n{s}\n" for i, s in enumerate(seqs)))
    (tmp_path / "t.yaml").write_text("train: tr.fa\ntest: te.fa\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.x.shape == (30, 4, 150)
    assert data.x[:20, :, 100:].sum() == 0 and data.x[20:].sum(1).min() == 1  # training padded; test whole


# --- images -----------------------------------------------------------------------------------------

def test_images_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "g.npz", x=rng.integers(0, 256, (6, 5, 7), dtype=np.uint8), y=np.array([0, 1, 2] * 2))
    g = load_images(tmp_path / "g.npz")
    assert g.x.shape == (6, 1, 5, 7) and g.x.dtype == np.float32 and g.x.max() <= 1 and g.classes == ["0", "1", "2"]
    rgb = rng.random((4, 5, 7, 3))
    np.savez(tmp_path / "c.npz", images=rgb, labels=np.array(["cat", "dog", "cat", "dog"]))
    c = load_images(tmp_path / "c.npz")
    assert c.x.shape == (4, 3, 5, 7) and c.classes == ["cat", "dog"] and c.ndim == 2 and c.kind == "image"
    np.testing.assert_allclose(c.x[1, 2], rgb[1, :, :, 2], rtol=1e-6)


def test_images_npz_errors(tmp_path):
    x = np.zeros((4, 5, 5), np.float32)
    x[2, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.array([0, 1, 0, 1]))
    with pytest.raises(AutofastError) as e:
        load_images(tmp_path / "nan.npz")
    _one_line(e, "nan.npz", "NaN", "image 2", "replace them")
    np.savez(tmp_path / "keys.npz", a=x, b=np.arange(4))
    with pytest.raises(AutofastError) as e:
        load_images(tmp_path / "keys.npz")
    _one_line(e, "keys.npz", "'x' and 'y'", "'a', 'b'")
    np.savez(tmp_path / "str.npz", x=np.full((4, 5, 5), "a"), y=np.arange(4))
    with pytest.raises(AutofastError) as e:
        load_images(tmp_path / "str.npz")
    _one_line(e, "str.npz", "not numeric")


def _png_folder(tmp_path, sizes):
    from PIL import Image

    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls, (w, h) in sizes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        n = len(list((root / cls).iterdir()))
        Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), mode="L").save(root / cls / f"{n}.png")
    return root


def test_images_png_folder(tmp_path):
    root = _png_folder(tmp_path, [("a", (6, 4))] * 3 + [("b", (6, 4))] * 2)
    d = load_images(root)
    assert d.x.shape == (5, 1, 4, 6) and d.classes == ["a", "b"] and d.y.tolist() == [0, 0, 0, 1, 1]
    assert 0 <= d.x.min() and d.x.max() <= 1


def test_images_folder_errors(tmp_path):
    root = _png_folder(tmp_path, [("a", (6, 4)), ("b", (6, 4)), ("b", (5, 4))])
    with pytest.raises(AutofastError) as e:
        load_images(root)
    _one_line(e, "1.png", "5x4", "6x4", "resize them to one size")
    (root / "c").mkdir()
    with pytest.raises(AutofastError) as e:
        load_images(root)
    _one_line(e, "'c'", "has no images (.bmp, .jpeg")


def test_digits():
    d = digits()
    assert d.x.shape == (1797, 1, 8, 8) and d.x.dtype == np.float32 and d.num_classes == 10
    assert d.x.min() == 0 and d.x.max() == 1


# --- split, standardisation, tasks ------------------------------------------------------------------

def test_stratified_split_properties():
    y = np.repeat(np.arange(4), [50, 31, 7, 3])
    s = stratified_split(y, (0.7, 0.1, 0.2), seed=3)
    allidx = np.concatenate([s.train, s.val, s.test])
    assert len(allidx) == len(y) and len(np.unique(allidx)) == len(y)  # disjoint and covering
    for part, r in zip((s.train, s.val, s.test), s.ratios):
        counts = np.bincount(y[part], minlength=4)
        assert (counts >= 1).all()  # every class (all have >= 3) in every split
        assert np.all(np.abs(counts - np.bincount(y) * r) <= 2)
    same = stratified_split(y, seed=3)
    assert all(np.array_equal(getattr(s, k), getattr(same, k)) for k in ("train", "val", "test"))
    other = stratified_split(y, seed=4)
    assert not np.array_equal(np.sort(s.test), np.sort(other.test))
    with pytest.raises(AutofastError):
        stratified_split(y, (0.5, 0.5, 0.5))


def test_channel_standardizer_and_train_only_normalisation(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (60, 3, 5, 6)).astype(np.float32)  # (N, C, H, W)
    x[:, 1] *= 10
    mean, std = channel_standardizer(x)
    assert mean.shape == std.shape == (3,)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-5)
    y = np.repeat([0, 1], 30)
    x[y == 1] += 100.0  # test-only shifts must not leak into the statistics
    np.savez(tmp_path / "t.npz", x=x, y=y)
    task = load_task(str(tmp_path / "t.npz"), seed=1)
    tr = x[task.split.train]
    np.testing.assert_allclose(task.mean, tr.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(task.x_train.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(task.x_test.numpy(), (x[task.split.test] - task.mean[None, :, None, None])
                               / task.std[None, :, None, None], rtol=1e-4, atol=1e-4)


def test_load_task_names_and_paths(tmp_path):
    import torch

    t = load_task("splice", seed=0)
    assert t.name == "splice" and t.x_train.dtype == torch.float32 and t.y_train.dtype == torch.int64
    assert tuple(t.x_train.shape[1:]) == (4, 60) and t.mean is None
    assert len(t.y_train) + len(t.y_val) + len(t.y_test) == 3190
    np.testing.assert_array_equal(t.x_val.numpy(), t.data.x[t.split.val])  # DNA one-hot left as is
    assert load_task("DIGITS").x_test.shape[1:] == (1, 8, 8)
    assert known_tasks() == ["splice", "digits", "darcy", "JapaneseVowels", "ACSF1", "PickupGestureWiimoteZ"]
    with pytest.raises(AutofastError) as e:
        load_task("nope")
    _one_line(e, "'nope'", "splice, digits, darcy, JapaneseVowels, ACSF1, PickupGestureWiimoteZ")
    with pytest.raises(AutofastError) as e:
        load_task("ETTh1")
    _one_line(e, "not a classification task")
    (tmp_path / "s.fa").write_text("".join(f">r{i}|{'ab'[i % 2]}\nACGT\n" for i in range(12)))
    assert load_task(str(tmp_path / "s.fa")).data.kind == "dna"


def test_registry_still_serves_timeseries():
    assert DATASETS["digits"].path is None and DATASETS["digits"].kind == "image"
    name, path = resolve_timeseries("etth1")
    assert name == "ETTh1" and path.exists()
    with pytest.raises(AutofastError):
        resolve_timeseries("digits")


def test_classification_data_validates():
    with pytest.raises(AutofastError):
        SupervisedData(np.zeros((2, 4), np.float32), np.zeros(2, np.int64), ["a"], "s", "dna")


def test_split_seed_fixes_the_split_across_training_seeds():
    """``split_seed`` draws the split (several ``seed`` runs share one test split); without it ``seed`` does."""
    from autofast.search.config import SearchConfig
    from autofast.tasks import load_from_config

    def test_rows(**kw):
        task = load_from_config(SearchConfig(task="splice", **kw))
        return task.split.seed, task.split.test.tolist()

    base = test_rows(seed=0)
    assert test_rows(seed=1, split_seed=0) == base and test_rows(seed=3, split_seed=0) == base
    assert test_rows(seed=1)[1] != base[1] and test_rows(seed=0, split_seed=1) == test_rows(seed=1)


def test_a_csv_without_a_header_row_says_so(tmp_path):
    """UCR-style rows in a .csv (label first, then numbers): 'sequence, label not found (available: a, 0.03, ...)'
    named the first row's numbers as columns; now the missing header is named."""
    p = tmp_path / "rows.csv"
    p.write_text("a,0.1,0.2,0.3\nb,0.3,0.2,0.1\n")
    with pytest.raises(AutofastError) as e:
        load_task(str(p))
    _one_line(e, "rows.csv", "has no header row", "kind: series")
