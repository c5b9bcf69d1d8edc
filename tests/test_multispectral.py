"""Images with any number of bands: layouts (auto, explicit, undecidable), per-band standardisation with
training statistics, .npy + labels, the multispectral shift families, and a 13-band synthetic set through
`search`, `pretrain` -> `finetune` and `compare` end to end at tiny scale."""
import json

import numpy as np
import pytest
import torch

from autofast.cli import main
from autofast.data.supervised import load_task
from autofast.data.images import load_images
from autofast.data.shifts import apply_shift
from autofast.errors import AutofastError


def _one_line(e, *parts):
    msg = str(e.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


def _bands(n=60, bands=13, size=8, seed=0):
    """Sentinel-2-like patches (N, 13, 8, 8): each class lifts a different band; bands have their own scales."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(0, 1, (n, bands, size, size)) * (1 + np.arange(bands))[None, :, None, None] * 100
    for c in range(3):
        x[y == c, 2 + 3 * c] += 400 * (1 + 2 + 3 * c)
    return x.astype(np.float32), y


@pytest.mark.parametrize("shape, layout, bands", [
    ((6, 13, 8, 8), "auto", 13), ((6, 8, 8, 13), "auto", 13), ((6, 120, 5, 5), "auto", 120),
    ((6, 5, 7, 3), "auto", 3), ((6, 13, 8, 9), "NCHW", 13), ((6, 8, 9, 13), "NHWC", 13),
])
def test_any_band_count_and_layouts(tmp_path, shape, layout, bands):
    np.savez(tmp_path / "m.npz", x=np.random.default_rng(0).random(shape), y=np.array([0, 1] * 3))
    d = load_images(tmp_path / "m.npz", layout)
    assert d.x.shape[:2] == (6, bands) and d.channels == bands


def test_undecidable_layout_asks_for_layout_and_npy_with_labels(tmp_path):
    np.savez(tmp_path / "amb.npz", x=np.zeros((6, 13, 8, 9)), y=np.array([0, 1] * 3))
    with pytest.raises(AutofastError) as e:
        load_images(tmp_path / "amb.npz")
    _one_line(e, "amb.npz", "layout: NCHW", "layout: NHWC")
    x, y = _bands(12)
    np.save(tmp_path / "x.npy", x.transpose(0, 2, 3, 1))
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "t.yaml").write_text("data: x.npy\nlabels: y.npy\nkind: image\nlayout: NHWC\n"
                                     "split: {ratios: [0.5, 0.25, 0.25]}\n")
    t = load_task(tmp_path / "t.yaml")
    assert tuple(t.x_train.shape[1:]) == (13, 8, 8)
    (tmp_path / "bad.yaml").write_text("data: x.npy\nkind: image\n")
    with pytest.raises(AutofastError) as e:
        load_task(tmp_path / "bad.yaml")
    _one_line(e, "x.npy", "labels")


def test_per_band_standardisation_uses_training_rows_only(tmp_path):
    x, y = _bands()
    np.savez(tmp_path / "s2.npz", x=x, y=y)
    t = load_task(tmp_path / "s2.npz", seed=0)
    assert t.mean.shape == (13,) and t.std.shape == (13,)
    train = x[t.split.train].astype(np.float64)
    np.testing.assert_allclose(t.mean, train.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(t.x_train.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(t.x_train.std(dim=(0, 2, 3), unbiased=False).numpy(), 1, atol=1e-3)
    assert abs(float(t.x_test.mean(dim=(0, 2, 3))[12])) > 1e-4  # test rows were not used for the statistics


def test_multispectral_shifts_act_per_band():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 13, 8, 8, generator=g)
    dropped = apply_shift(x, "image", "band_drop", 5, 1)
    per_band = (dropped == 0).flatten(2).all(dim=2)  # (N, bands): whole bands zeroed, nothing else
    assert per_band.any() and torch.equal(dropped[~per_band], x[~per_band])
    gained = apply_shift(x, "image", "gain", 3, 1)
    ratio = gained / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), rtol=1e-4)  # one gain per (image, band)
    cloudy = apply_shift(x, "image", "cloud", 3, 1)
    changed = (cloudy != x).flatten(2).any(dim=1).float().mean(dim=1)  # covered fraction per image
    assert bool(((changed > 0.15) & (changed < 0.6)).all()), changed
    noisy = apply_shift(x, "image", "band_noise", 2, 1)
    assert noisy.shape == x.shape and not torch.equal(noisy, x)


def test_thirteen_bands_through_search_finetune_and_compare(tmp_path, capsys):
    x, y = _bands(n=60)
    np.savez(tmp_path / "s2.npz", x=x, y=y)
    (tmp_path / "s2.yaml").write_text("data: s2.npz\nkind: image\nsplit: {ratios: [0.6, 0.2, 0.2], seed: 0}\n")
    task = str(tmp_path / "s2.yaml")
    assert main(["search", "--task", task, "--out", str(tmp_path / "search"), "--search-epochs", "1",
                 "--search-width", "4", "--retrain-width", "4", "--n-configs", "2", "--max-epochs", "1",
                 "--threads", "1", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["backbone"] == "wrn16" and 0 <= res["test_score"] <= 1 and res["split"]["test"] == 12
    pre = tmp_path / "pre"
    assert main(["pretrain", "--task", task, "--classes", "0", "1", "--out", str(pre), "--width", "4",
                 "--epochs", "1", "--threads", "1"]) == 0
    capsys.readouterr()
    assert torch.load(pre / "model.pt", weights_only=True)["autofast"]["in_channels"] == 13
    assert main(["finetune", "--checkpoint", str(pre / "model.pt"), "--task", task, "--ood-val", "band_drop:2",
                 "--ood-test", "cloud:3", "gain:2", "--n-configs", "2", "--max-epochs", "1", "--final-epochs", "1",
                 "--final-seeds", "0", "--control-lr-mults", "1", "--threads", "1", "--out", str(tmp_path / "ft"),
                 "--json"]) == 0
    ft = json.loads(capsys.readouterr().out)
    assert ft["classes"] == ["0", "1", "2"] and set(ft["summary"]["autoft"]) >= {"ood_test:cloud:3", "ood_test:gain:2"}
    assert main(["compare", "--checkpoint", str(pre / "model.pt"), "--task", task, "--shots", "2", "--seeds", "0",
                 "--ft-epochs", "1", "--ft-lr-mults", "1", "--baseline-configs", "2", "--baseline-max-epochs", "1",
                 "--baseline-epochs", "1", "--threads", "1", "--out", str(tmp_path / "cmp"), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert {r["arm"] for r in cmp["rows"]} == {"pretrained", "baseline"}
