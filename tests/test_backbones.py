"""DASH backbones (autofast.models): output shapes, searchable-layer counts and order, fixed patterns
reaching the built convs, a strided DilatedConv == a strided F.conv on every path, factory call shapes, backward passes."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autofast.kernels.conv import DilatedConv
from autofast.models import (
    BACKBONES, FixedFactory, ResNet1D, UNet, WideResNet, build_backbone, fixed_factory,
)


class Recorder:
    """A ConvFactory that records its calls and tags each module with its layer index."""

    def __init__(self):
        self.calls = []

    def __call__(self, index, cin, cout, stride, ndim):
        self.calls.append((index, cin, cout, stride, ndim))
        m = fixed_factory()(index, cin, cout, stride, ndim)
        m.tag = index
        return m


def tagged_order(model):
    return [m.tag for m in model.modules() if hasattr(m, "tag")]


CASES = [  # name, ndim, input, num_classes, width, expected output shape, searchable count
    ("resnet1d", 1, (2, 4, 60), 3, 8, (2, 3), 10),
    ("wrn16", 2, (2, 1, 8, 8), 10, 64, (2, 10), 13),
    ("wrn16", 2, (2, 3, 32, 32), 10, 16, (2, 10), 13),
    ("wrn22", 2, (2, 3, 9, 9), 4, 8, (2, 4), 19),
    ("unet", 1, (2, 3, 37), 5, 4, (2, 5, 37), 17),
    ("unet", 2, (2, 3, 9, 10), 2, 4, (2, 2, 9, 10), 17),
]


@pytest.mark.parametrize("name,ndim,shape,nc,width,out,count", CASES)
def test_shapes_counts_order_and_backward(name, ndim, shape, nc, width, out, count):
    torch.manual_seed(0)
    rec = Recorder()
    model = build_backbone(name, ndim, shape[1], nc, width, rec)
    x = torch.randn(shape, requires_grad=True)
    y = model(x)
    assert y.shape == out
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in model.parameters())
    assert model.num_searchable == count == len(rec.calls)
    # the factory saw indices 0..n-1 in order, with exactly the documented shapes
    assert [c[0] for c in rec.calls] == list(range(count))
    assert [c[1:4] for c in rec.calls] == model.searchable_shapes
    assert all(c[4] == ndim for c in rec.calls)
    # module registration order == index order (what derive_pattern relies on)
    assert tagged_order(model) == list(range(count))
    assert [m.tag for m in model.searchable_modules()] == list(range(count))


def test_documented_shapes():
    assert ResNet1D(4, 3, width=8).searchable_shapes == (
        [(4, 8, 1)] + [(8, 8, 1)] * 3 + [(8, 16, 1)] + [(16, 16, 1)] * 5)
    wrn = WideResNet(16, 2, in_channels=1, num_classes=10)
    assert wrn.widths == [16, 32, 64, 128]
    assert wrn.searchable_shapes == [
        (1, 16, 1), (16, 32, 1), (32, 32, 1), (32, 32, 1), (32, 32, 1),
        (32, 64, 2), (64, 64, 1), (64, 64, 1), (64, 64, 1),
        (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1)]
    assert WideResNet(22, 1).num_searchable == 19
    assert WideResNet(28, 1).num_searchable == 25
    u = UNet(1, 2, 1, width=4, depth=2)
    assert u.searchable_shapes == [(2, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1), (8, 16, 1), (16, 16, 1),
                                   (16, 8, 1), (16, 8, 1), (8, 8, 1), (8, 4, 1), (8, 4, 1), (4, 4, 1)]
    assert UNet(2, 1, 1, depth=3).num_searchable == 17


@pytest.mark.parametrize("name,ndim,in_ch", [("resnet1d", 1, 4), ("wrn16", 2, 3), ("unet", 2, 1)])
def test_fixed_pattern_is_used(name, ndim, in_ch):
    n = build_backbone(name, ndim, in_ch, 2, 8).num_searchable
    ks, ds = (3, 5, 7, 9), (1, 2, 3)
    pattern = [(ks[i % 4], ds[i % 3]) for i in range(n)]
    model = build_backbone(name, ndim, in_ch, 2, 8, fixed_factory(pattern))
    for i, (m, (cin, cout, stride)) in enumerate(zip(model.searchable_modules(), model.searchable_shapes)):
        conv = m
        assert isinstance(conv, DilatedConv) and conv.bias is None and conv.stride == stride
        assert conv.weight.shape == (cout, cin) + (pattern[i][0],) * ndim, i
        assert conv.dilation == pattern[i][1], i
    x = torch.randn((2, in_ch) + (12,) * ndim)
    model(x).sum().backward()


def test_fixed_factory_default_and_validation():
    f = fixed_factory([(5, 2)])
    assert isinstance(f, FixedFactory)
    assert f.kernel(0) == (5, 2) and f.kernel(7) == (3, 1)
    assert fixed_factory([], default=(7, 3)).kernel(0) == (7, 3)
    with pytest.raises(ValueError, match="past the pattern"):
        fixed_factory([(3, 1)], default=None)(1, 2, 2, 1, 1)
    with pytest.raises(ValueError, match="must be odd"):
        fixed_factory([(4, 1)])
    with pytest.raises(ValueError, match="dilations >= 1"):
        fixed_factory([(3, 0)])
    # frozen, hashable, no state: the same factory builds independent modules
    a, b = f(0, 2, 3, 1, 1), f(0, 2, 3, 1, 1)
    assert a is not b and a.weight is not b.weight and hash(f) == hash(fixed_factory([(5, 2)]))


@pytest.mark.parametrize("path", ["native", "tap", "fft", "auto"])
@pytest.mark.parametrize("k,d,size", [(3, 1, (8, 8)), (5, 2, (9, 7)), (7, 3, (11, 10)), (1, 1, (5, 6)), (3, 7, (9, 9))])
def test_strided_conv_equals_strided_f_conv(k, d, size, path):
    torch.manual_seed(k * 10 + d)
    m = fixed_factory([(k, d)], path=path)(0, 3, 4, 2, 2).double()
    assert isinstance(m, DilatedConv) and m.stride == 2
    x = torch.randn((2, 3) + size, dtype=torch.float64, requires_grad=True)
    want = F.conv2d(x, m.weight, stride=2, padding=d * (k - 1) // 2, dilation=d)
    got = m(x)
    torch.testing.assert_close(got, want)
    g = torch.randn_like(want)
    torch.testing.assert_close(torch.autograd.grad(got, [x, m.weight], g), torch.autograd.grad(want, [x, m.weight], g))
    # 1-D, and stride 3
    m1 = DilatedConv(1, 3, 4, k, d, bias=False, stride=3, path=path).double()
    x1 = torch.randn(2, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(m1(x1), F.conv1d(x1, m1.weight, stride=3, padding=d * (k - 1) // 2, dilation=d))


def test_wrn_odd_sizes_and_1d():
    m = WideResNet(16, 1, in_channels=2, num_classes=3)
    assert m(torch.randn(2, 2, 7, 5)).shape == (2, 3)  # 7x5 -> 4x3 -> 2x2, shortcut sizes agree
    m1 = WideResNet(16, 1, in_channels=2, num_classes=3, ndim=1)
    assert m1(torch.randn(2, 2, 11)).shape == (2, 3)
    with pytest.raises(ValueError, match="6n \\+ 4"):
        WideResNet(18)


def test_unet_tiny_and_linear_upsampling():
    u = UNet(1, 1, 2, width=2, depth=3, upsample="linear")
    assert u(torch.randn(2, 1, 1)).shape == (2, 2, 1)  # length 1 stays 1 at every level
    assert u(torch.randn(2, 1, 5)).shape == (2, 2, 5)
    u2 = UNet(2, 1, 2, width=2, depth=2, upsample="linear")
    assert u2(torch.randn(2, 1, 3, 7)).shape == (2, 2, 3, 7)


def test_resnet1d_regression_and_options():
    m = ResNet1D(4, task="regression", width=4)
    assert m(torch.randn(3, 4, 20)).shape == (3, 1)
    assert ResNet1D(4, task="regression", out_dim=2, width=4)(torch.randn(3, 4, 20)).shape == (3, 2)
    m2 = ResNet1D(4, 5, width=4, blocks=2, convs_per_block=2, dropout=0.5)
    assert m2.num_searchable == 5 and m2(torch.randn(3, 4, 20)).shape == (3, 5)
    with pytest.raises(ValueError):
        ResNet1D(4)  # classification without classes


def test_resnet1d_position_channel_is_a_linspace_appended_to_the_input(seed):
    """positional=True equals the plain network with one more input channel fed linspace(-1, 1, L),
    in float64, on the same weights; the stem reads in_channels + 1; other backbones refuse it."""
    torch.manual_seed(seed)
    pos = build_backbone("resnet1d", 1, 4, 3, 8, fixed_factory([(5, 3)] * 10), positional=True).double().eval()
    plain = build_backbone("resnet1d", 1, 5, 3, 8, fixed_factory([(5, 3)] * 10)).double().eval()
    plain.load_state_dict(pos.state_dict())  # same parameter names and shapes: only the input differs
    assert pos.stem[0].weight.shape[1] == 5
    x = torch.randn(6, 4, 37, dtype=torch.float64)
    ramp = torch.linspace(-1, 1, 37, dtype=torch.float64).expand(6, 1, 37)
    torch.testing.assert_close(pos(x), plain(torch.cat([x, ramp], 1)), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="position channel"):
        build_backbone("wrn16", 2, 3, 10, 16, positional=True)


def test_build_backbone_errors_and_width_mapping():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vgg", 2, 3, 10, 16)
    with pytest.raises(ValueError, match="1-D"):
        build_backbone("resnet1d", 2, 3, 10, 16)
    assert build_backbone("wrn16", 2, 3, 10, 64).widths == [16, 64, 128, 256]  # WRN-16-4
    assert build_backbone("wrn22", 2, 3, 10, 8).widths == [16, 8, 16, 32]
    assert set(BACKBONES) == {"resnet1d", "wrn16", "wrn22", "unet"}


def test_supernet_factory_builds_and_trains():
    """The DASH MixedFactory plugs into the same classes; derive_pattern lists one (k, d) per index."""
    from autofast.dash.supernet import MixedFactory, derive_pattern, searchable_layers

    torch.manual_seed(0)
    for name, ndim, shape in [("resnet1d", 1, (2, 4, 30)), ("wrn16", 2, (2, 1, 8, 8))]:
        net = build_backbone(name, ndim, shape[1], 3, 4, MixedFactory((3, 5), (1, 2)))
        layers = searchable_layers(net)
        assert layers == net.searchable_modules()
        assert [m.stride for m in layers] == [s for _, _, s in net.searchable_shapes]
        net(torch.randn(shape)).sum().backward()
        assert all(m.alpha.grad is not None for m in layers)
        pattern = derive_pattern(net)
        assert len(pattern) == net.num_searchable
        fixed = build_backbone(name, ndim, shape[1], 3, 16, fixed_factory(pattern, default=None))
        assert fixed(torch.randn(shape)).shape == (2, 3)


def test_state_dict_and_deepcopy():
    import copy

    m = build_backbone("wrn16", 2, 1, 10, 16, fixed_factory([(5, 3)] * 13))
    c = copy.deepcopy(m)
    assert c.searchable_modules()[0] is not m.searchable_modules()[0]
    assert c.searchable_modules()[0] is c.stem
    assert not any(k.startswith("_searchable") for k in m.state_dict())
    c.load_state_dict(m.state_dict())
