"""Built-in distribution shifts: shape/dtype, determinism, severity, DNA invariants, bad specs."""
import pytest
import torch
import torch.nn.functional as F

from autofast.data.shifts import RANDOM_FAMILIES, SHIFT_FAMILIES, apply_shift, modality_of, parse_shift
from autofast.errors import AutofastError

CASES = [(m, f) for m, fams in SHIFT_FAMILIES.items() for f in fams]


def _image(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth random images (upsampled low-res noise) so that small rotations do not saturate the distance
    low = torch.randn(n, 3, 6, 6, generator=g)
    x = F.interpolate(low, size=(16, 20), mode="bilinear", align_corners=False)
    return x + 0.1 * torch.randn(x.shape, generator=g)


def _dna(n=16, length=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, 4, (n, length), generator=g), 4).permute(0, 2, 1).float()


def _dna_runs(n=16, length=200, seed=0):
    """DNA made of long runs of one base (mean run ~25): a shift by more positions moves more bases off
    their run, so the distance to the input grows with the offset (on i.i.d. bases it saturates at 1)."""
    g = torch.Generator().manual_seed(seed)
    change = torch.rand(n, length, generator=g) < 0.04
    step = torch.randint(1, 4, (n, length), generator=g) * change
    base = (torch.randint(0, 4, (n, 1), generator=g) + step.cumsum(dim=1)) % 4
    return F.one_hot(base, 4).permute(0, 2, 1).float()


def _series(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 64, generator=g).cumsum(dim=2) + 5.0


DATA = {"image": _image, "dna": _dna, "series": _series}


@pytest.mark.parametrize("modality,family", CASES)
def test_shape_dtype_determinism_identity(modality, family):
    x = DATA[modality]()
    before = x.clone()
    assert torch.equal(apply_shift(x, modality, family, 0, 3), x)
    for s in range(1, 6):
        a = apply_shift(x, modality, family, s, 7)
        b = apply_shift(x, modality, family, s, 7)
        assert a.shape == x.shape and a.dtype == x.dtype
        assert torch.equal(a, b)
        assert not torch.equal(a, x)
        assert torch.isfinite(a).all()
        if family in RANDOM_FAMILIES[modality]:
            assert not torch.equal(a, apply_shift(x, modality, family, s, 8))
    assert torch.equal(x, before)  # input untouched
    out = apply_shift(x, modality, family, 0, 3)
    out.add_(1)
    assert torch.equal(x, before)  # severity 0 returns a copy, not a view


@pytest.mark.parametrize("modality,family", CASES)
def test_severity_grows_distance(modality, family):
    x = _dna_runs(n=64) if modality == "dna" else DATA[modality](n=32)
    dists = []
    for s in range(1, 6):
        d = [float((apply_shift(x, modality, family, s, seed) - x).norm()) for seed in range(4)]
        dists.append(sum(d) / len(d))
    assert all(b > a for a, b in zip(dists, dists[1:])), dists


def test_float64_kept():
    x = _image(n=2).double()
    assert apply_shift(x, "image", "rotation", 2, 0).dtype == torch.float64
    assert apply_shift(_series(n=2).double(), "series", "noise", 2, 0).dtype == torch.float64


def test_dna_rows_sum_to_one_and_mutation_fraction():
    x = _dna(n=20, length=250)
    for s in range(1, 6):
        m = apply_shift(x, "dna", "mutation", s, 11)
        assert torch.allclose(m.sum(dim=1), torch.ones(20, 250))
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        changed = (m != x).any(dim=1).float().mean().item()
        assert changed == pytest.approx(0.04 * s, abs=0.005)
        sh = apply_shift(x, "dna", "shift", s, 11)
        assert torch.allclose(sh.sum(dim=1), torch.ones(20, 250))


def test_dna_shift_is_a_roll_with_unknown_fill():
    x = _dna(n=50, length=40)
    out = apply_shift(x, "dna", "shift", 3, 5)
    for i in range(50):
        matched = [o for o in range(-6, 7)
                   if torch.equal(out[i, :, max(o, 0):40 + min(o, 0)], x[i, :, max(-o, 0):40 - max(o, 0)])]
        assert matched, i
        o = matched[0]
        fill = out[i, :, :o] if o > 0 else out[i, :, 40 + o:]
        assert torch.all(fill == 0.25)


def test_dna_mutation_keeps_padding_and_handles_iupac():
    x = _dna(n=4, length=50)
    x[:, :, 40:] = 0           # padding
    x[:, :, 0] = 0.25          # N
    out = apply_shift(x, "dna", "mutation", 5, 1)
    assert torch.all(out[:, :, 40:] == 0)
    # 0.2 * 40 non-empty positions = 8 per sequence; a drawn N column becomes a definite base, so it changes too
    assert torch.equal((out != x).any(dim=1).sum(dim=1), torch.full((4,), 8))
    assert torch.allclose(out[:, :, :40].sum(dim=1), torch.ones(4, 40))


def test_image_contrast_and_blur_by_hand():
    x = _image(n=3)
    m = x.flatten(1).mean(1).view(-1, 1, 1, 1)
    assert torch.allclose(apply_shift(x, "image", "contrast", 2, 0), m + 0.7 * (x - m), atol=1e-6)
    const = torch.full((1, 2, 8, 8), 3.0)
    assert torch.allclose(apply_shift(const, "image", "blur", 5, 0), const)  # blur keeps constants
    tiny = torch.randn(2, 1, 3, 2)  # smaller than the kernel radius: still works
    assert apply_shift(tiny, "image", "blur", 5, 0).shape == tiny.shape


def test_series_scale_exact():
    x = _series(n=5)
    out = apply_shift(x, "series", "scale", 2, 0)
    ratio = out / x
    assert torch.allclose(ratio.std(dim=(1, 2)), torch.zeros(5), atol=1e-5)
    assert torch.allclose(ratio[:, 0, 0].log().abs(), torch.full((5,), 0.3), atol=1e-5)


def test_parse_shift():
    assert parse_shift("noise:3") == ("noise", 3)
    assert parse_shift(" Blur : 0 ", modality="image") == ("blur", 0)
    assert parse_shift("mutation:5", "dna") == ("mutation", 5)
    with pytest.raises(AutofastError, match=r"unknown shift family 'blur' for dna data; valid: mutation, shift"):
        parse_shift("blur:2", modality="dna")
    with pytest.raises(AutofastError, match="unknown shift family 'fog'"):
        parse_shift("fog:2")
    with pytest.raises(AutofastError, match="severity must be an integer 0..5"):
        parse_shift("noise:6")
    with pytest.raises(AutofastError, match="malformed"):
        parse_shift("noise")
    with pytest.raises(AutofastError, match="malformed"):
        parse_shift("noise:2.5")
    with pytest.raises(AutofastError, match="unknown shift modality"):
        parse_shift("noise:2", modality="audio")


def test_apply_shift_bad_input():
    x = _image(n=2)
    with pytest.raises(AutofastError, match="unknown shift family 'mutation' for image"):
        apply_shift(x, "image", "mutation", 1, 0)
    with pytest.raises(AutofastError, match="severity"):
        apply_shift(x, "image", "noise", 7, 0)
    with pytest.raises(AutofastError, match=r"\(N, 4, L\)"):
        apply_shift(torch.zeros(2, 5, 10), "dna", "shift", 1, 0)
    with pytest.raises(AutofastError, match=r"\(N, C, H, W\)"):
        apply_shift(torch.zeros(2, 5, 10), "image", "noise", 1, 0)
    with pytest.raises(AutofastError, match="floating point"):
        apply_shift(torch.zeros(2, 4, 10, dtype=torch.long), "dna", "shift", 1, 0)


def test_modality_of():
    assert modality_of(_image(n=1), "image") == "image"
    assert modality_of(kind="dna") == "dna"
    assert modality_of(kind="timeseries") == "series"
    assert modality_of(_image(n=1)) == "image"
    assert modality_of(_dna(n=2)) == "dna"
    assert modality_of(_series(n=2)) == "series"
    with pytest.raises(AutofastError, match="no built-in shifts for data kind 'audio'"):
        modality_of(kind="audio")
    with pytest.raises(AutofastError, match=r"image shift input must be \(N, C, H, W\)"):
        modality_of(_dna(n=1), "image")


def test_rotation_is_rigid_on_non_square_images():
    # a round blob in the centre of a 24 x 40 image is unchanged by a rigid rotation (a shear would stretch it)
    yy, xx = torch.meshgrid(torch.arange(24.0) - 11.5, torch.arange(40.0) - 19.5, indexing="ij")
    blob = torch.exp(-(xx ** 2 + yy ** 2) / (2 * 4.0 ** 2)).expand(8, 1, 24, 40).contiguous()
    out = apply_shift(blob, "image", "rotation", 5, 0)
    assert (out - blob).abs().max() < 0.02
    bar = (yy.abs() < 1.5).float().expand(8, 1, 24, 40).contiguous()  # a horizontal bar does move
    assert (apply_shift(bar, "image", "rotation", 5, 0) - bar).abs().max() > 0.5
