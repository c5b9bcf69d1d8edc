"""Checkpoints: round trips, refusing code-executing pickles, bare state dicts, mismatch errors."""
import json
import os

import pytest
import torch
from torch import nn

from autofast.errors import AutofastError
from autofast.models.checkpoint import load_checkpoint, load_into, save_checkpoint

META = {"backbone": "resnet1d", "ndim": 1, "in_channels": 4, "num_classes": 3, "width": 8,
        "pattern": [[3, 1], [7, 3]], "dropout": 0.1, "task": "toy", "classes": ["a", "b", "c"]}


def _net(num_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 8, 3), nn.BatchNorm1d(8), nn.Flatten(), nn.Linear(8 * 6, num_classes))


class _Pwn:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip(tmp_path, suffix):
    net = _net()
    net(torch.randn(2, 4, 8))  # touch BatchNorm buffers
    path = tmp_path / "sub" / f"model{suffix}"
    save_checkpoint(path, net, META)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind
    state, meta = load_checkpoint(path)
    assert meta == META
    ref = net.state_dict()
    assert state.keys() == ref.keys()
    assert all(torch.equal(state[k], ref[k]) and state[k].dtype == ref[k].dtype for k in ref)
    other = _net()
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    load_into(other, state, path)
    assert all(torch.equal(other.state_dict()[k], ref[k]) for k in ref)


def test_safetensors_metadata_is_json_under_autofast(tmp_path):
    from safetensors import safe_open

    path = tmp_path / "m.safetensors"
    save_checkpoint(path, _net(), META)
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["autofast"]) == META


def test_tied_weights_save_to_safetensors(tmp_path):
    net = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    net[1].weight = net[0].weight
    save_checkpoint(tmp_path / "t.safetensors", net, {})
    state, meta = load_checkpoint(tmp_path / "t.safetensors")
    assert meta == {} and torch.equal(state["0.weight"], state["1.weight"])


def test_code_executing_pickle_is_refused(tmp_path):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Pwn(marker)}, path)
    with pytest.raises(AutofastError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: refusing to load: the checkpoint needs code execution to unpickle")
    assert "save a plain state_dict or use .safetensors" in msg
    assert not marker.exists()
    whole = tmp_path / "whole.pth"
    torch.save(_net(), whole)  # a pickled module is code too
    with pytest.raises(AutofastError, match="refusing to load"):
        load_checkpoint(whole)


def test_bare_and_wrapped_state_dicts(tmp_path):
    sd = _net().state_dict()
    for name, obj in (("bare.pt", sd), ("wrapped.pth", {"state_dict": sd}), ("model.bin", {"model": sd})):
        torch.save(obj, tmp_path / name)
        state, meta = load_checkpoint(tmp_path / name)
        assert meta == {} and state.keys() == sd.keys()


def test_bad_files(tmp_path):
    with pytest.raises(AutofastError, match="checkpoint file not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(AutofastError, match="is not a file"):
        load_checkpoint(tmp_path)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(AutofastError, match="holds a list, not a dict"):
        load_checkpoint(tmp_path / "list.pt")
    torch.save({"w": torch.zeros(1), "epoch": 3, "note": "x"}, tmp_path / "mixed.pt")
    with pytest.raises(AutofastError, match="non-tensor entries 'epoch', 'note'"):
        load_checkpoint(tmp_path / "mixed.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(AutofastError, match="junk.pt: cannot read the checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(AutofastError, match="empty.pt"):
        load_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(AutofastError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(AutofastError, match="plain JSON data"):
        save_checkpoint(tmp_path / "m.pt", _net(), {"x": torch.zeros(1)})
    assert not (tmp_path / "m.pt").exists()


def test_load_into_mismatch_errors(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, _net(num_classes=3), META)
    state, _ = load_checkpoint(path)
    with pytest.raises(AutofastError) as err:
        load_into(_net(num_classes=5), state, path)
    msg = str(err.value)
    assert "'3.weight' has shape (3, 48) in the checkpoint but (5, 48)" in msg and "\n" not in msg
    # excluding the head loads the rest and keeps the new head
    new = _net(num_classes=5)
    head = new[3].weight.detach().clone()
    load_into(new, state, path, exclude=("3.",))
    assert torch.equal(new[3].weight, head) and torch.equal(new[0].weight, state["0.weight"])
    missing = {k: v for k, v in state.items() if not k.startswith("1.")}
    with pytest.raises(AutofastError, match=r"missing keys '1\.weight', '1\.bias', '1\.running_mean' \(\+2 more\)"):
        load_into(_net(), missing, path)
    extra = dict(state, **{"extra.w": torch.zeros(1)})
    with pytest.raises(AutofastError, match=r"unexpected keys 'extra\.w'.*build the model from the checkpoint's meta"):
        load_into(_net(), extra, path)
