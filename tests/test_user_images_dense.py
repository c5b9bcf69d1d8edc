"""Images, multispectral arrays and dense targets as users hand them over (found by a user audit, session 30):
16-bit PNGs (satellite, microscopy) keep their range instead of being clipped to white; a truncated image file is
named; a val or test file of an official split may hold one class; one-hot label rows are classes, not values;
a single channels-last field loads with or without 'layout:'; 'target:' is refused on dense data; the
estimator reads channels-last images by the loaders' band-axis rule."""
from __future__ import annotations

import numpy as np
import pytest

from autofast.data.dense import load_dense
from autofast.data.files import load_file
from autofast.data.images import load_images
from autofast.data.task_file import load_task_file
from autofast.errors import AutofastError


def test_sixteen_bit_pngs_keep_their_range_and_a_truncated_file_is_named(tmp_path):
    from PIL import Image

    for cls, level in (("low", 1000), ("high", 4000)):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((6, 5), level + 10 * i, dtype=np.uint16)).save(tmp_path / "f" / cls / f"{i}.png")
    data = load_images(tmp_path / "f")
    assert data.x.shape == (6, 1, 6, 5) and data.classes == ["high", "low"]
    np.testing.assert_allclose(data.x[:, 0, 0, 0], np.r_[[4000, 4010, 4020], [1000, 1010, 1020]] / 65535, rtol=1e-6)
    noisy = tmp_path / "noisy.png"  # a file whose pixels are most of its bytes, cut in half
    Image.fromarray(np.random.default_rng(0).integers(0, 65535, (6, 5), dtype=np.uint16)).save(noisy)
    (tmp_path / "f" / "low" / "3.png").write_bytes(noisy.read_bytes()[:len(noisy.read_bytes()) // 2])
    with pytest.raises(AutofastError, match=r"low/3.png: cannot be read as an image"):
        load_images(tmp_path / "f")


def test_a_test_file_of_one_class_and_one_hot_labels(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(8, 3, 6, 6)), y=np.array(["water", "land"] * 4))
    np.savez(tmp_path / "test.npz", x=rng.normal(size=(3, 3, 6, 6)), y=np.array(["water"] * 3))
    (tmp_path / "t.yaml").write_text("train: train.npz\ntest: test.npz\nkind: image\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")  # was "every example has the label 'water'"
    assert data.classes == ["land", "water"] and data.y[-3:].tolist() == [1, 1, 1]
    np.savez(tmp_path / "one.npz", x=rng.normal(size=(4, 3, 6, 6)), y=np.array(["water"] * 4))
    with pytest.raises(AutofastError, match="needs at least two classes"):  # a whole task of one class still is
        load_file(tmp_path / "one.npz")
    onehot = np.eye(3, dtype=np.int64)[[0, 1, 2, 1]]
    np.savez(tmp_path / "oh.npz", x=rng.normal(size=(4, 3, 6, 6)), y=onehot)
    d = load_file(tmp_path / "oh.npz")  # was a 3-target regression
    assert d.classes == ["0", "1", "2"] and d.y.tolist() == [0, 1, 2, 1]


def test_dense_channels_last_field_and_one_class_val_masks(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 8, 8, 13)), rng.normal(size=(6, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=y)
    for layout in ("NHWC", "auto"):  # NHWC was "targets of spatial shape (8,)"
        d = load_dense(tmp_path / "f.npz", layout)
        assert d.x.shape == (6, 13, 8, 8) and d.y.shape == (6, 1, 8, 8)
        np.testing.assert_allclose(d.x[2, 5], x[2, :, :, 5], rtol=1e-6)
    masks = rng.integers(0, 2, (6, 8, 8))
    np.savez(tmp_path / "train.npz", x=rng.normal(size=(6, 2, 8, 8)), y=masks)
    np.savez(tmp_path / "val.npz", x=rng.normal(size=(2, 2, 8, 8)), y=np.zeros((2, 8, 8), dtype=np.int64))
    (tmp_path / "t.yaml").write_text("train: train.npz\nval: val.npz\ntest: train.npz\nkind: dense\n")
    assert load_task_file(tmp_path / "t.yaml")[1].classes == ["0", "1"]
    (tmp_path / "c.yaml").write_text("data: f.npz\nkind: dense\ntarget: classification\n")
    with pytest.raises(AutofastError, match="'target: classification' is for series.*cast the masks to integers"):
        load_task_file(tmp_path / "c.yaml")


def test_estimator_reads_channels_last_images_by_their_band_axis():
    from autofast.estimator import _image_layout

    assert _image_layout(np.zeros((5, 32, 32, 13))) == "auto"  # channels last: the loaders' rule tells it
    assert _image_layout(np.zeros((5, 13, 32, 32))) == "auto"
    assert _image_layout(np.zeros((5, 13, 8, 9))) == "NCHW"  # undecidable: the documented layout
    from autofast.data.images import channels_first

    assert channels_first(np.zeros((5, 32, 32, 13), dtype=np.float32), "x", "auto").shape == (5, 13, 32, 32)


def test_a_grey_test_folder_beside_an_rgb_training_folder(tmp_path):
    """Official-split folders in different colour modes: the test folder is read in the training images' bands
    (was "inputs have shape (1, 16, 16) per example but 'train' has (3, 16, 16)")."""
    from PIL import Image

    rng = np.random.default_rng(2)
    for part, mode in (("train", "RGB"), ("test", "L")):
        for cls in ("a", "b"):
            (tmp_path / part / cls).mkdir(parents=True)
            for i in range(2):
                shape = (8, 8, 3) if mode == "RGB" else (8, 8)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(
                    tmp_path / part / cls / f"{i}.png")
    (tmp_path / "t.yaml").write_text("train: train\ntest: test\nkind: image\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.x.shape == (8, 3, 8, 8)
    np.testing.assert_array_equal(data.x[4:, 0], data.x[4:, 1])  # grey pixels in all three bands


def test_images_as_a_second_audit_handed_them_over(tmp_path):
    """A 16-bit grey PNG read in RGB bands was clipped to white; macOS '._x.png' files and '__MACOSX' folders
    were refused; EXIF orientation was ignored (a portrait photo read sideways); a mixed-size folder named the
    one odd image as the reference; uint8 training and int64 test files of an official split were read on two
    scales (0.19 accuracy for 0.67, silently)."""
    from PIL import Image

    from autofast.data.images import image_pixels

    g16 = tmp_path / "g16.png"
    Image.fromarray(np.full((4, 6), 6553, dtype=np.uint16)).save(g16)
    rgb = image_pixels(g16, grey=False)
    assert rgb.shape == (4, 6, 3) and np.allclose(rgb, 6553 / 65535)
    root = tmp_path / "f"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
        (root / cls / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "__MACOSX" / "a").mkdir(parents=True)
    assert load_images(root).x.shape == (6, 3, 6, 4) and load_images(root).uint8_input
    turned = Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))  # stored 6 wide, shown 6 high
    exif = turned.getexif()
    exif[0x0112] = 6
    turned.save(root / "a" / "3.jpg", exif=exif)
    assert load_images(root).x.shape == (7, 3, 6, 4)
    Image.fromarray(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)).save(root / "b" / "big.png")
    with pytest.raises(AutofastError, match=r"big.png is 9x9 but 7 of the 8 images are 4x6"):
        load_images(root)
    x = rng.integers(0, 256, (8, 3, 6, 6))
    np.savez(tmp_path / "train.npz", x=x.astype(np.uint8), y=np.array(["w", "l"] * 4))
    np.savez(tmp_path / "test.npz", x=x.astype(np.int64), y=np.array(["w", "l"] * 4))
    (tmp_path / "t.yaml").write_text("train: train.npz\ntest: test.npz\nkind: image\n")
    with pytest.raises(AutofastError, match=r"field 'test': inputs are not 8-bit .* but 'train''s are 8-bit"):
        load_task_file(tmp_path / "t.yaml")


def test_predict_refuses_inputs_on_another_scale_than_training():
    """A model trained on uint8 pixels given the same pixels as float 0-255 (or a float model given uint8) was
    read on another scale and predicted one class for everything."""
    from autofast.predictor.inputs import InputReader

    def reader(uint8):
        return InputReader({"classes": ["a", "b"], "kind": "image", "input": {"shape": [3, 6, 6], "uint8_input": uint8}})

    x = np.random.default_rng(0).integers(0, 256, (2, 3, 6, 6))
    assert reader(True).prepare(x.astype(np.uint8)).x.shape == (2, 3, 6, 6)
    assert reader(True).prepare(x / 255.0).x.shape == (2, 3, 6, 6)  # already scaled: fine
    with pytest.raises(AutofastError, match=r"inputs are int64 up to \d+ but the model was trained on 8-bit pixels"):
        reader(True).prepare(x)
    with pytest.raises(AutofastError, match="inputs are uint8 .* trained on values as they are"):
        reader(False).prepare(x.astype(np.uint8))
    assert reader(None).prepare(x.astype(np.uint8)).x.shape == (2, 3, 6, 6)  # a run saved before the record


def test_inputs_far_from_the_training_range_get_a_note():
    """Reflectance 0-1 given to a model trained on 0-10 000 predicted one class at p = 0.999999 without a word."""
    from autofast.predictor.inputs import InputReader

    reader = InputReader({"classes": ["a", "b"], "kind": "image", "input": {
        "shape": [2, 4, 4], "uint8_input": False,
        "standardise": {"mean": [3000.0, 5000.0], "std": [800.0, 900.0]}}})
    x = np.random.default_rng(0).normal(3000, 800, (3, 2, 4, 4)).astype(np.float32)
    x[:, 1] = 5000
    assert reader.prepare(x).notes == []
    far = reader.prepare(x / 10000)
    assert far.notes and "input channel 1 lies 6 training standard deviations" in far.notes[-1]


def test_an_npz_of_series_or_fields_without_a_task_file_says_which_kind_to_name(tmp_path):
    """A bare .npz is read as images: series (N, 1, 40) trained silently as 1-pixel-high images (a WRN on a 1 x 40
    grid), and target fields shaped like the inputs were 'give one target per image'; both name the task file's
    kind now. Small images (digits' 8 x 8) and 4-D arrays are images as before."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "series.npz", x=rng.normal(size=(30, 1, 40)).astype("float32"), y=np.arange(30) % 2)
    with pytest.raises(AutofastError, match="look like 30 series of 1 channel.*'kind: series'"):
        load_file(tmp_path / "series.npz")
    fields = rng.normal(size=(20, 1, 16, 16)).astype("float32")
    np.savez(tmp_path / "fields.npz", x=fields, y=fields * 2)
    with pytest.raises(AutofastError, match="is a dense task: write a task file with 'kind: dense'"):
        load_file(tmp_path / "fields.npz")
    np.savez(tmp_path / "small.npz", x=rng.normal(size=(30, 8, 8)).astype("float32"), y=np.arange(30) % 2)
    assert load_file(tmp_path / "small.npz").kind == "image"
    np.savez(tmp_path / "tall.npz", x=rng.normal(size=(30, 1, 1, 40)).astype("float32"), y=np.arange(30) % 2)
    assert load_file(tmp_path / "tall.npz").kind == "image"


def test_one_image_file_and_a_list_of_image_paths_are_read_as_the_folder_is(tmp_path):
    """predict / Result.predict refused one image file ("unsupported image data '.png'") and a list of image paths
    ended in a numpy UFuncNoLoopError: both are now read as a batch, as the folder's images are."""
    from PIL import Image

    from autofast.errors import AutofastError
    from autofast.predictor.inputs import InputReader

    rng = np.random.default_rng(3)
    (tmp_path / "new").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(tmp_path / "new" / f"{i}.png")
    reader = InputReader({"classes": ["a", "b"], "kind": "image", "input": {
        "shape": [1, 8, 8], "uint8_input": True, "standardise": None, "image": {"channels": 1, "spatial": [8, 8]}}})
    folder = reader.prepare(tmp_path / "new")
    one = reader.prepare(tmp_path / "new" / "1.png")
    assert one.x.shape == (1, 1, 8, 8) and np.array_equal(one.x.numpy()[0], folder.x.numpy()[1])
    listed = reader.prepare([str(tmp_path / "new" / "2.png"), tmp_path / "new" / "0.png"], labels=["b", "a"])
    assert np.array_equal(listed.x.numpy(), folder.x.numpy()[[2, 0]]) and list(listed.labels) == [1, 0]
    with pytest.raises(AutofastError, match="no such image file"):
        reader.prepare([str(tmp_path / "new" / "9.png")])


def test_class_folders_named_in_either_unicode_form_are_one_class(tmp_path):
    """A test folder copied on macOS (NFD 'u' + combining diaeresis) was 'not among the model's classes'."""
    import unicodedata

    from PIL import Image

    from autofast.data.images import load_images

    rng = np.random.default_rng(4)
    for part, form in (("train", "NFC"), ("test", "NFD")):
        for cls in ("\u00fcber", "plain"):
            d = tmp_path / part / unicodedata.normalize(form, cls)
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(d / f"{i}.png")
    assert load_images(tmp_path / "train").classes == load_images(tmp_path / "test").classes == ["plain", "\u00fcber"]


def test_what_reading_an_image_folder_left_out_or_changed_is_said(tmp_path):
    """notes.txt files in the class folders were skipped and grey files read as RGB beside colour ones without a
    word in the run (the series loaders say such things)."""
    from PIL import Image

    from autofast.data.images import load_images

    rng = np.random.default_rng(5)
    for cls in ("a", "b"):
        d = tmp_path / cls
        d.mkdir()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), mode="RGB").save(d / "c.png")
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(d / "g.png")
        (d / "notes.txt").write_text("x")
    data = load_images(tmp_path)
    assert data.x.shape == (4, 3, 8, 8)
    assert data.load_notes[0].startswith("2 file(s) in the class folders are not images") and "'notes.txt'" in \
        data.load_notes[0]
    assert data.load_notes[1].startswith("2 grey image file(s) read as RGB")


def test_one_image_channels_first_or_last_is_a_batch_of_one():
    """An audit's (H, W, C) image (what PIL and imageio give) was refused where a batch in that layout was read."""
    from autofast.predictor.inputs import InputReader

    reader = InputReader({"classes": ["a", "b"], "kind": "image", "input": {"shape": [3, 5, 6], "uint8_input": False}})
    img = np.random.default_rng(0).normal(size=(3, 5, 6)).astype(np.float32)
    first = reader.prepare(img).x
    last = reader.prepare(np.ascontiguousarray(img.transpose(1, 2, 0))).x
    assert first.shape == last.shape == (1, 3, 5, 6) and np.allclose(np.asarray(first), np.asarray(last))
    with pytest.raises(AutofastError, match="inputs have shape"):
        reader.prepare(img[:, :4])  # neither one image nor a batch of the model's shape
