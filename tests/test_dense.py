"""Dense prediction: the loader (masks and fields, 1-D and 2-D, layouts, bad input), the Darcy-flow
generator and solver, the dense losses and metrics, and `search`/`dash` with the UNet end to end."""
import json
import os

import numpy as np
import pytest
import torch

from autofast.cli import main
from autofast.data.supervised import SupervisedTask, load_task
from autofast.data.darcy import darcy_data, darcy_samples, solve_darcy
from autofast.data.dense import load_dense
from autofast.engine import evaluate, mean_iou, relative_l2, task_loss
from autofast.errors import AutofastError


def _one_line(e, *parts):
    msg = str(e.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


def test_masks_and_fields_shapes_and_layouts(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "seg.npz", x=rng.random((5, 6, 7)), y=rng.integers(0, 3, (5, 6, 7)))
    d = load_dense(tmp_path / "seg.npz")
    assert d.kind == "dense" and d.x.shape == (5, 1, 6, 7) and d.y.shape == (5, 6, 7) and d.y.dtype == np.int64
    assert d.classes == ["0", "1", "2"] and not d.regression
    np.savez(tmp_path / "nhwc.npz", x=rng.random((5, 6, 7, 13)), y=rng.integers(0, 2, (5, 6, 7)))
    assert load_dense(tmp_path / "nhwc.npz", layout="NHWC").x.shape == (5, 13, 6, 7)
    np.savez(tmp_path / "dna.npz", x=rng.random((5, 4, 30)), y=rng.integers(0, 2, (5, 30)))  # per-position labels
    one = load_dense(tmp_path / "dna.npz")
    assert one.x.shape == (5, 4, 30) and one.ndim == 1
    np.savez(tmp_path / "field.npz", x=rng.random((5, 6, 6)), y=rng.random((5, 6, 6)))
    f = load_dense(tmp_path / "field.npz")
    assert f.regression and f.y.shape == (5, 1, 6, 6) and f.y.dtype == np.float32
    np.savez(tmp_path / "fields.npz", x=rng.random((5, 2, 6, 6)), y=rng.random((5, 3, 6, 6)))
    assert load_dense(tmp_path / "fields.npz").y.shape == (5, 3, 6, 6)


@pytest.mark.parametrize("channels, length, layout, one_d", [(2, 64, "auto", True), (1, 64, "auto", True),
                                                              (32, 48, "auto", False), (8, 8, "auto", False),
                                                              (8, 8, "NCL", True), (2, 64, "NCHW", False)])
def test_same_shaped_1d_fields_are_channels_not_a_grid(tmp_path, channels, length, layout, one_d):
    """(N, C, L) inputs -> (N, C, L) float targets were read as one C x L image (a 2-D UNet over a 2 x 64 grid,
    relative L2 over both channels at once) whatever the layout said; they are C fields of length L where
    'layout: NCL' says so or a few channels run along a longer axis."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x=rng.random((5, channels, length)), y=rng.random((5, channels, length)) + 0.1)
    d = load_dense(tmp_path / "f.npz", layout=layout)
    want = ((5, channels, length), (5, channels, length)) if one_d else ((5, 1, channels, length),) * 2
    assert (d.x.shape, d.y.shape) == want and d.ndim == (1 if one_d else 2)


def test_a_target_field_of_zeros_is_refused_and_not_scored(tmp_path):
    """Relative L2 divides by the target's norm: a zero field scored 3e11 in predict and made training diverge
    ('lower the learning rate', the wrong fix); the loader names the example, predict's score leaves it out."""
    from autofast.predictor.model import Predictor

    rng = np.random.default_rng(0)
    y = rng.random((6, 8, 8)) + 0.5
    y[4] = 0.0
    np.savez(tmp_path / "z.npz", x=rng.random((6, 8, 8)), y=y)
    with pytest.raises(AutofastError) as e:
        load_dense(tmp_path / "z.npz")
    _one_line(e, "z.npz", "example 4 is zero everywhere", "1 such example", "drop those examples")
    model = Predictor.__new__(Predictor)
    model.manifest = {"regression": True, "target": {"scale": [2.0]}}
    pred = y[:, None] + 0.1
    got = model.dense_scores(pred, y[:, None])
    keep = [0, 1, 2, 3, 5]
    want = np.mean([np.linalg.norm(pred[i] - y[i, None]) / np.linalg.norm(y[i]) for i in keep])
    assert got["zero_targets"] == 1 and got["relative_l2"] == pytest.approx(want, rel=1e-12)


def test_dense_bad_input(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mismatch.npz", x=rng.random((5, 6, 7)), y=rng.integers(0, 2, (5, 6, 8)))
    with pytest.raises(AutofastError) as e:
        load_dense(tmp_path / "mismatch.npz")
    _one_line(e, "mismatch.npz", "do not match targets")
    np.savez(tmp_path / "one.npz", x=rng.random((5, 6, 7)), y=np.zeros((5, 6, 7), np.int64))
    with pytest.raises(AutofastError) as e:
        load_dense(tmp_path / "one.npz")
    _one_line(e, "one.npz", "at least two classes")
    y = rng.random((5, 6, 6))
    y[3, 2, 2] = np.inf
    np.savez(tmp_path / "inf.npz", x=rng.random((5, 6, 6)), y=y)
    with pytest.raises(AutofastError) as e:
        load_dense(tmp_path / "inf.npz")
    _one_line(e, "inf.npz", "non-finite target value", "example 3")
    np.savez(tmp_path / "3d.npz", x=rng.random((5, 2, 2, 2)), y=rng.integers(0, 2, (5, 2, 2, 2)))
    with pytest.raises(AutofastError) as e:
        load_dense(tmp_path / "3d.npz")
    _one_line(e, "3d.npz", "3 spatial axes")


def test_darcy_solver_and_generator():
    u = solve_darcy(np.ones((65, 65)))  # Poisson on the unit square: max 0.07367 (series solution)
    assert abs(u.max() - 0.07367) < 2e-4 and np.allclose(u, u.T) and np.all(u[0] == 0) and np.all(u[:, -1] == 0)
    a, p = darcy_samples(3, seed=0, s=16)
    assert a.shape == p.shape == (3, 1, 16, 16) and set(np.unique(a)) <= {3.0, 12.0}
    assert np.all(p > -1e-9) and np.all(p[:, :, 0] == 0)
    a2, p2 = darcy_samples(4, seed=0, s=16)  # sample i depends on (seed, i, s) only
    np.testing.assert_array_equal(a2[:3], a)
    np.testing.assert_array_equal(p2[:3], p)
    assert not np.array_equal(darcy_samples(1, seed=1, s=16)[0], a[:1])
    # higher permeability, lower pressure: u for a == 12 everywhere is u for a == 1 divided by 12
    np.testing.assert_allclose(solve_darcy(np.full((9, 9), 12.0)), solve_darcy(np.ones((9, 9))) / 12, rtol=1e-10)
    d = darcy_data(n_train=12, n_test=4, s=8)
    t = SupervisedTask.build("darcy", d, seed=0)
    assert len(t.y_test) == 4 and len(t.y_train) + len(t.y_val) == 12 and "seed 1" in t.split.provenance["test"]
    np.testing.assert_allclose(t.y_test.numpy() * t.target_scale[0], d.y[12:], rtol=1e-5)  # fields rescaled only


def test_dense_losses_and_metrics():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(4, 1, 5, 5, generator=g) + 0.5
    out = y + 0.1 * torch.randn(4, 1, 5, 5, generator=g)
    rel = relative_l2(out, y)
    assert torch.allclose(rel, (out - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1))
    assert torch.allclose(task_loss(3 * out, 3 * y), task_loss(out, y))  # scale-free
    logits = torch.zeros(2, 3, 2, 2)
    labels = torch.tensor([[[0, 1], [2, 2]], [[1, 1], [0, 2]]])
    logits.scatter_(1, torch.tensor([[[0, 1], [1, 2]], [[1, 1], [0, 0]]])[:, None], 5.0)

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return logits[: len(x)]

    m = Fixed()
    x = torch.zeros(2, 1, 2, 2)
    _, acc = evaluate(m, x, labels)
    assert acc == pytest.approx(6 / 8)  # per position
    # IoU: class 0: inter 2 / union 3; class 1: 3 / 4; class 2: 1 / 3
    assert mean_iou(m, x, labels, 3) == pytest.approx((2 / 3 + 3 / 4 + 1 / 3) / 3)
    assert float(task_loss(logits, labels)) > 0


def test_darcy_search_and_segmentation_dash_end_to_end(tmp_path, capsys):
    for split, n, seed in (("train", 20, 0), ("test", 6, 1)):
        a, u = darcy_samples(n, seed, s=8)
        np.savez(tmp_path / f"darcy_{split}.npz", x=a, y=u)
    (tmp_path / "darcy.yaml").write_text("kind: dense\ntrain: darcy_train.npz\ntest: darcy_test.npz\n"
                                         "split: {val_fraction: 0.25}\n")
    (tmp_path / "space.yaml").write_text("kernel_sizes: [3, 5]\ndilations: [1, 2]\n")
    common = ["--search-epochs", "1", "--search-width", "2", "--retrain-width", "2", "--config",
              str(tmp_path / "space.yaml"), "--threads", "1", "--conv-path", "native", "--json"]
    from autofast.kernels.conv import conv_path

    x, w = torch.randn(2, 3, 20), torch.randn(4, 3, 5)  # a conv of something else earlier in this process
    conv_path.choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap"), lambda p: (lambda: None), path="tap")
    assert main(["search", "--task", str(tmp_path / "darcy.yaml"), "--out", str(tmp_path / "s"), "--n-configs", "2",
                 "--max-epochs", "1", "--arch", "dash", *common]) == 0  # the UNet's path (auto: the ridge wins here)
    s = json.loads(capsys.readouterr().out)
    assert s["kind"] == "dense" and s["backbone"] == "unet" and s["metric"] == "relative L2"
    assert s["lower_is_better"] and s["test_score"] == s["final"]["test_loss"] > 0 and len(s["pattern"]) == 17
    assert "darcy_test.npz" in s["split"]["provenance"]["test"]
    assert s["conv_paths"] and {c["path"] for c in s["conv_paths"]} == {"native"}  # this run's convs, all native
    assert "AUTOFAST_CONV_PATH" not in os.environ  # ... for that command only
    # predict: the task's test split and its raw file give the run's test score; fields in the data's units
    manifest = json.loads((tmp_path / "s" / "model" / "manifest.json").read_text())
    assert manifest["target"]["mean"] == [0.0] and manifest["target"]["scale"][0] > 0
    assert manifest["model"]["combine"] in ("the output", "mean output of the members")  # values, not classes
    for data in (tmp_path / "darcy.yaml", tmp_path / "darcy_test.npz"):
        assert main(["predict", str(tmp_path / "s"), "--data", str(data), "--json"]) == 0
        p = json.loads(capsys.readouterr().out)
        assert p["rows"] == 6 and p["shape"] == [1, 8, 8]
        assert p["relative_l2"] == pytest.approx(s["test_score"], rel=1e-4)
    with np.load(p["out"]) as z:
        pred, index = z["pred"], z["index"]
    _, u = darcy_samples(6, 1, s=8)
    assert pred.shape == (6, 1, 8, 8) and pred.dtype == np.float32 and list(index) == list(range(6))
    assert u.shape == pred.shape
    rel = np.mean(np.linalg.norm((pred - u).reshape(6, -1), axis=1) / np.linalg.norm(u.reshape(6, -1), axis=1))
    assert rel == pytest.approx(s["test_score"], rel=1e-4)  # one target: the units' ratio is the scaled one
    import autofast

    res = autofast.load(tmp_path / "s")
    a, _ = darcy_samples(6, 1, s=8)
    np.testing.assert_allclose(res.predict(a), pred[:, 0], rtol=1e-5, atol=1e-6)
    assert res.score(a, u) == pytest.approx(s["test_score"], rel=1e-4)
    with pytest.raises(AutofastError, match="predicts values"):
        res.predict_proba(a)
    for bad, msg in ((a[:, :, :4], "inputs have shape"), (np.ones((6, 3, 8, 8)), "inputs have shape")):
        with pytest.raises(AutofastError, match=msg):
            res.predict(bad)
    with pytest.raises(AutofastError, match="targets have shape"):
        res.score(a, u[..., :4])
    assert main(["predict", str(tmp_path / "s"), "--data", str(tmp_path / "darcy.yaml"), "--out",
                 str(tmp_path / "p.csv")]) == 2
    assert ".npz" in capsys.readouterr().err and not (tmp_path / "p.csv").exists()
    import shutil

    shutil.copytree(tmp_path / "s", tmp_path / "old")  # a dense run saved before the fields' scale was recorded
    for f in (tmp_path / "old").glob("predictions-*"):
        f.unlink()
    old = tmp_path / "old" / "model" / "manifest.json"
    old.write_text(json.dumps({k: v for k, v in json.loads(old.read_text()).items() if k != "target"}))
    assert main(["predict", str(tmp_path / "old"), "--data", str(tmp_path / "darcy.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "saved before" in err and "\n" not in err and not list((tmp_path / "old").glob("predictions-*"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2, 16))
    np.savez(tmp_path / "seg.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))  # per-position labels, 1-D
    (tmp_path / "seg.yaml").write_text("data: seg.npz\nkind: dense\n")
    assert main(["dash", "--task", str(tmp_path / "seg.yaml"), "--out", str(tmp_path / "d"), "--retrain-epochs", "1",
                 *common]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["metric"] == "per-pixel accuracy" and 0 <= d["retrain"]["test_acc"] <= 1
    assert 0 <= d["retrain"]["test_mean_iou"] <= 1 and 0 <= d["baseline"]["test_mean_iou"] <= 1
    assert d["baseline"]["pattern"] == [[3, 1]] * 17  # the fixed 3-wide UNet
    # predict on the segmentation run: masks of the class values and their probabilities, the run's test scores
    assert main(["predict", str(tmp_path / "d"), "--data", str(tmp_path / "seg.yaml"), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["classes"] == ["0", "1"] and p["shape"] == [16]
    assert p["accuracy"] == pytest.approx(d["retrain"]["test_acc"], abs=1e-9)
    assert p["mean_iou"] == pytest.approx(d["retrain"]["test_mean_iou"], abs=1e-9)
    with np.load(p["out"]) as z:
        assert z["pred"].shape == (p["rows"], 16) and set(np.unique(z["pred"])) <= {0, 1}
        assert z["proba"].shape == (p["rows"], 2, 16) and np.allclose(z["proba"].sum(1), 1, atol=1e-5)
        assert (z["proba"].argmax(1) == z["pred"]).all()
    import autofast

    seg = autofast.load(tmp_path / "d")
    masks = seg.predict(x[:3])
    assert masks.shape == (3, 16) and masks.dtype == np.int64 and set(np.unique(masks)) <= {0, 1}
    with pytest.raises(AutofastError, match="not among the model's classes"):
        seg.score(x[:3], np.full((3, 16), 7))
    np.savez(tmp_path / "seg_new.npz", x=np.moveaxis(x[:4], 1, 2))  # channels last, no masks: read as at training
    assert main(["predict", str(tmp_path / "d"), "--data", str(tmp_path / "seg_new.npz"), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["rows"] == 4 and not p["labelled"] and "accuracy" not in p
    with np.load(p["out"]) as z:
        assert (z["pred"] == seg.predict(x[:4])).all()


def test_dense_refused_where_it_does_not_fit(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "seg.npz", x=rng.random((12, 6, 6)), y=rng.integers(0, 2, (12, 6, 6)))
    (tmp_path / "seg.yaml").write_text("data: seg.npz\nkind: dense\n")
    assert main(["dash", "--task", str(tmp_path / "seg.yaml"), "--backbone", "wrn16", "--out",
                 str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "backbone 'wrn16' does not fit dense data" in err and "\n" not in err
    assert load_task(tmp_path / "seg.yaml").data.kind == "dense"
    assert main(["pretrain", "--task", str(tmp_path / "seg.yaml"), "--out", str(tmp_path / "p")]) == 2
    assert "dense prediction task" in capsys.readouterr().err


def test_predict_reads_a_channels_last_models_inputs_in_either_layout():
    """A model trained with 'layout: NHWC' was given its exact channels-first shape (N, 4, 16, 24) and refused it
    as '(N, 24, 4, 16)' -- the array after forcing it to channels last; both readings are taken where only one fits,
    and a shape neither fits is named as given."""
    from autofast.predictor.inputs import InputReader

    reader = InputReader({"classes": ["target0"], "kind": "dense", "regression": True,
                          "input": {"shape": [4, 16, 24], "dense": {"layout": "NHWC"}}})
    x = np.random.default_rng(0).random((3, 4, 16, 24)).astype(np.float32)
    np.testing.assert_array_equal(reader.prepare(x).x.numpy(), x)
    np.testing.assert_array_equal(reader.prepare(np.moveaxis(x, 1, -1)).x.numpy(), x)
    with pytest.raises(AutofastError) as e:
        reader.prepare(x[:, :, :, :20])
    _one_line(e, "shape (3, 4, 16, 20)", "(N, 4, 16, 24) channels first or (N, 16, 24, 4) channels last")


def test_a_mask_value_of_255_beside_small_classes_is_said():
    """255 is the usual 'ignore' mark of segmentation masks; it was learned as a class (predicted on 3 200 test
    pixels) and averaged into the mean IoU without a word."""
    from types import SimpleNamespace

    from autofast.data.types import SupervisedData
    from autofast.search.pipeline import mask_note

    y = np.zeros((4, 6, 6), dtype=np.int64)
    y[:, :, 3:] = 1
    y[:, 0] = 2  # the index of class '255' (sorted: '0', '1', '255')
    data = SupervisedData(np.zeros((4, 1, 6, 6), np.float32), y, ["0", "1", "255"], "m.npz", "dense")
    note = mask_note(SimpleNamespace(data=data, y_train=torch.from_numpy(y)))
    assert note.startswith("mask value 255 (16.7% of the training pixels) sits beside classes 0-1")
    plain = SupervisedData(data.x, y, ["0", "1", "2"], "m.npz", "dense")
    assert mask_note(SimpleNamespace(data=plain, y_train=torch.from_numpy(y))) is None


def test_ignored_positions_carry_no_loss_and_are_not_scored():
    """The loss, accuracy and IoU of masks with positions labelled IGNORE_INDEX (a task file's ignore_label) are
    those of the other positions alone (float64 reference on fresh random logits)."""
    from autofast.engine import IGNORE_INDEX

    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 4, 5, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (3, 5, 6), generator=g)
    ignored = torch.rand(3, 5, 6, generator=g) < 0.3
    y_ig = torch.where(ignored, torch.full_like(y, IGNORE_INDEX), y)
    logp = torch.log_softmax(out, 1)
    per = [-(logp[i].permute(1, 2, 0)[~ignored[i]].gather(1, y[i][~ignored[i]][:, None])).mean() for i in range(3)]
    assert task_loss(out, y_ig).item() == pytest.approx(torch.stack(per).mean().item(), rel=1e-12)
    assert task_loss(out, y).item() == pytest.approx(torch.nn.functional.cross_entropy(out, y).item(), rel=1e-12)
    model = torch.nn.Identity()
    loss, acc = evaluate(model, out, y_ig, batch_size=2)
    right = (out.argmax(1) == y)[~ignored]
    assert acc == pytest.approx(right.double().mean().item()) and loss == pytest.approx(torch.stack(per).mean().item())
    pred, true = out.argmax(1)[~ignored], y[~ignored]
    ious = [((pred == k) & (true == k)).sum() / ((pred == k) | (true == k)).sum() for k in range(4)]
    assert mean_iou(model, out, y_ig, 4) == pytest.approx(torch.stack(ious).double().mean().item())


def test_an_ignore_label_is_left_out_of_classes_training_and_scores(tmp_path, capsys):
    """Masks whose 255 marks no-data pixels: with 'ignore_label: 255' they are no class, carry no loss, are not
    scored (run and predict alike); without it the note now names the key."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2, 8, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    y[:, :2] = 255  # a no-data border
    np.savez(tmp_path / "seg.npz", x=x, y=y)
    data = load_dense(tmp_path / "seg.npz", ignore_label=255)
    assert data.classes == ["0", "1"] and (data.y[:, :2] == -1).all() and set(np.unique(data.y[:, 2:])) == {0, 1}
    assert load_dense(tmp_path / "seg.npz").classes == ["0", "1", "255"]
    (tmp_path / "seg.yaml").write_text("data: seg.npz\nkind: dense\nignore_label: 255\n")
    run = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "seg.yaml"), "--out", str(run), "--n-configs", "2",
                 "--max-epochs", "2", "--search-epochs", "1", "--search-width", "2", "--retrain-width", "4",
                 "--arch", "plain", "--threads", "1", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["classes"] == ["0", "1"] and not any("mask value" in n for n in s["data_notes"])
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["input"]["dense"]["ignore_label"] == 255
    assert main(["predict", str(run), "--data", str(tmp_path / "seg.yaml"), "--json"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["accuracy"] == pytest.approx(s["test_score"], rel=1e-6)  # the border scored in neither
    (tmp_path / "plain.yaml").write_text("data: seg.npz\nkind: dense\n")
    from types import SimpleNamespace

    from autofast.search.pipeline import mask_note

    plain = load_task(tmp_path / "plain.yaml")
    assert "set 'ignore_label: 255' in a task file" in mask_note(SimpleNamespace(data=plain.data,
                                                                                  y_train=plain.y_train))
    (tmp_path / "bad.yaml").write_text("data: seg.npz\nkind: image\nignore_label: 255\n")
    with pytest.raises(AutofastError, match="'ignore_label' is for dense masks"):
        load_task(tmp_path / "bad.yaml")
