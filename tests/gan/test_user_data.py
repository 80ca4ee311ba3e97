"""The user's own data (image_folder, npz) and the public registration functions, on real MNIST digits
written out by the test as image files and arrays."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import gan
from gan import Config, ConfigError, DataNotFoundError, Trainer
from gan.config import DataConfig
from gan.data import dataset_info, load_dataset, read_idx
from gan.metrics import EvalConfig, Evaluator
from tests.helpers import MNIST_TEST_DIR

PER_CLASS = 200
CLASSES = (3, 7, 9)


@pytest.fixture(scope="module")
def digits():
    """Real MNIST test digits of three classes, PER_CLASS each: uint8 (N, 28, 28) and labels 0..2."""
    x = read_idx(MNIST_TEST_DIR / "t10k-images-idx3-ubyte.gz")
    y = read_idx(MNIST_TEST_DIR / "t10k-labels-idx1-ubyte.gz")
    keep = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in CLASSES])
    return x[keep].copy(), np.searchsorted(CLASSES, y[keep]).astype(np.int64)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits):
    """One subfolder per class; every third image saved as an RGB JPEG at 40x36 (not square, not 28)."""
    root = tmp_path_factory.mktemp("images")
    x, y = digits
    for i, (img, label) in enumerate(zip(x, y)):
        d = root / f"digit_{CLASSES[label]}"
        d.mkdir(exist_ok=True)
        if i % 3 == 0:
            Image.fromarray(img).convert("RGB").resize((40, 36)).save(d / f"{i:04d}.jpg")
        else:
            Image.fromarray(img).save(d / f"{i:04d}.png")
    (root / "digit_3" / "notes.txt").write_text("not an image: skipped")
    return root


def folder_cfg(root, **kw) -> DataConfig:
    return DataConfig(name="image_folder", root=str(root), **kw)


def test_an_image_folder_is_one_class_per_subfolder_resized_once_and_cached(folder, digits):
    info = dataset_info(folder_cfg(folder))
    assert (info.channels, info.image_size, info.num_classes) == (3, 64, 3)  # some JPEGs are RGB; 64 by default
    assert info.class_names == ("digit_3", "digit_7", "digit_9")
    data = load_dataset(folder_cfg(folder, image_size=28))
    assert data.images.shape == (len(CLASSES) * PER_CLASS, 3, 28, 28) and data.images.dtype == torch.uint8
    assert data.class_counts().tolist() == [PER_CLASS] * len(CLASSES)
    # a PNG at its own size comes back as the digit it was (centre crop of a square = the image)
    x, _ = digits
    png = 1  # image 1 is a PNG: the folder's order is the files' sorted order, class by class
    assert all(torch.equal(data.images[png, c], torch.from_numpy(x[png])) for c in range(3))
    cached = list((gan.data.cache_dir() / "decoded").glob("image_folder-*.npy"))
    assert cached
    again = load_dataset(folder_cfg(folder, image_size=28))
    assert torch.equal(again.images, data.images)


def test_editing_the_folder_changes_its_fingerprint_and_so_every_cache_key(folder):
    before = dataset_info(folder_cfg(folder)).fingerprint
    some = sorted((folder / "digit_7").glob("*.png"))[0]
    os.utime(some, ns=(some.stat().st_atime_ns, some.stat().st_mtime_ns + 10**9))
    gan.data.datasets._described.cache_clear()
    assert dataset_info(folder_cfg(folder)).fingerprint != before


def test_a_flat_folder_is_one_unlabelled_class_and_refuses_a_conditional_model(tmp_path, digits):
    x, _ = digits
    for i in range(20):
        Image.fromarray(x[i]).save(tmp_path / f"{i}.png")
    info = dataset_info(folder_cfg(tmp_path))
    assert (info.channels, info.num_classes, info.class_names) == (1, 1, ("image",))  # every image is grey
    cfg = Config.from_dict({"data": {"name": "image_folder", "root": str(tmp_path), "image_size": 32},
                            "model": {"conditional": True}, "train": {"iterations": 1}})
    with pytest.raises(ConfigError, match="no class labels"):
        Trainer(cfg)


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_an_npz_reads_every_layout_to_the_same_images(tmp_path, digits, layout):
    x, y = digits
    arr = {"NHW": x, "NHWC": x[..., None], "NCHW": x[:, None]}[layout]
    path = tmp_path / "digits.npz"
    np.savez(path, x=arr, y=y)
    info = dataset_info(DataConfig(name="npz", root=str(path)))
    assert (info.channels, info.image_size, info.num_classes) == (1, 28, 3)
    data = load_dataset(DataConfig(name="npz", root=str(path), num_images=30))
    assert data.images.shape == (30, 1, 28, 28) and data.class_counts().tolist() == [10, 10, 10]
    full = load_dataset(DataConfig(name="npz", root=str(path)))
    assert torch.equal(full.images[:, 0], torch.from_numpy(x)) and torch.equal(full.labels, torch.from_numpy(y))


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((4, 8, 8), np.uint8)}, "must hold x.npy and optionally y.npy only; it also holds "
                                                 "'images.npy'"),
    ({"y": np.zeros(4, np.int64)}, "no array `x`"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.array([0, 1, 10**12, 0])}, "labels count from 0 up to at most"),
    ({"x": np.zeros((4, 8, 8), np.float32)}, "must be uint8"),
    ({"x": np.zeros((4, 8, 9), np.uint8)}, "must be square"),
    ({"x": np.zeros((4, 2, 8, 8), np.uint8)}, "with C 1 or 3"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.zeros(3, np.int64)}, "integer labels of shape \\(4,\\)"),
    ({"x": np.zeros((4, 8, 8), np.uint8), "y": np.array([0, 1, -1, 0])}, "labels count from 0"),
    ({"x": np.array([{"a": 1}] * 4, dtype=object)}, "must be uint8"),  # a pickled object array is never loaded
])
def test_a_bad_npz_is_refused_before_any_work_saying_what_is_wrong(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        dataset_info(DataConfig(name="npz", root=str(path)))


def _npz_of_zeros(path, members: dict) -> None:
    """An npz written member by member, its zeros streamed in chunks: `members` maps a name to (shape, dtype,
    bytes of data actually written, None for all that the header declares)."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (shape, dtype, written) in members.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_2_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                          "shape": shape})
            with z.open(name, "w", force_zip64=True) as f:
                f.write(header.getvalue())
                left = int(np.prod(shape)) * np.dtype(dtype).itemsize if written is None else written
                while left:
                    f.write(bytes(min(left, 1 << 24)))
                    left -= min(left, 1 << 24)


def test_an_npz_is_judged_by_what_its_headers_declare_before_any_array_is_read(tmp_path):
    # 65 GB of images declared in a file of a few hundred bytes: refused from the header
    path = tmp_path / "bomb.npz"
    _npz_of_zeros(path, {"x.npy": ((10**6, 256, 256), np.uint8, 0)})
    assert path.stat().st_size < 10_000
    with pytest.raises(ValueError, match=r"declare 61\.0 GiB; at most 8 GiB is read"):
        dataset_info(DataConfig(name="npz", root=str(path)))
    # a member named plain `x` beside x.npy, which np.load would open first: refused, not read as the other
    both = tmp_path / "both.npz"
    _npz_of_zeros(both, {"x.npy": ((4, 8, 8), np.uint8, None), "x": ((40, 1, 28, 5), np.float64, None)})
    with pytest.raises(ValueError, match="it also holds 'x'"):
        dataset_info(DataConfig(name="npz", root=str(both)))


def test_describing_an_npz_reads_its_labels_in_bounded_memory(tmp_path):
    """10 million labels (80 MB as int64) in a compressed file of under a megabyte: their classes are found a
    chunk at a time, so the describe step's peak memory stays far below the labels' size."""
    import tracemalloc

    n = 10**7
    path = tmp_path / "many.npz"
    _npz_of_zeros(path, {"x.npy": ((n, 8, 8), np.uint8, None), "y.npy": ((n,), np.int64, None)})
    tracemalloc.start()
    try:
        info = dataset_info(DataConfig(name="npz", root=str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.num_classes == 1 and dict(info.split_sizes)["train"] == n
    assert peak < 30 * 2**20, peak  # one 8 MiB chunk and its bytes; the whole of `y` is 76 MiB


def test_missing_or_empty_user_data_says_what_to_set(tmp_path):
    with pytest.raises(DataNotFoundError, match="`data.root` is not set"):
        dataset_info(DataConfig(name="image_folder"))
    with pytest.raises(DataNotFoundError, match="no images"):
        dataset_info(folder_cfg(tmp_path))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "full_class").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "full_class" / "a.png")
    with pytest.raises(DataNotFoundError, match="empty_class hold no images"):
        dataset_info(folder_cfg(tmp_path))
    with pytest.raises(DataNotFoundError, match="has no test split"):
        dataset_info(DataConfig(name="image_folder", root=str(tmp_path), split="test"))


def test_an_image_folder_trains_and_is_scored_by_its_own_domain_classifier(folder):
    """The classifier holds out 20% of the folder (it has no test split) and learns three real digits."""
    data = {"name": "image_folder", "root": str(folder), "image_size": 28}
    cfg = Config.from_dict({"data": data, "model": {"latent_dim": 16, "g_width": 8, "d_width": 8},
                            "train": {"iterations": 20, "batch_size": 16}})
    trainer = Trainer(cfg)
    trainer.run()
    ev = Evaluator(EvalConfig(metrics=("fid",), num_samples=100, real_samples=150), cfg.data)
    # three distinct digits: chance is 1/3; this classifier scored 0.99 on the 120 held out, so 0.7 leaves
    # 35 misclassified digits of room (a defect that mixes up labels or images lands near chance)
    assert ev.extractor.test_accuracy > 0.7
    fid = ev.evaluate(trainer.generate)["fid"]
    assert np.isfinite(fid) and fid > 0


# -- registration ------------------------------------------------------------------------------

def test_registration_refuses_duplicates_and_entries_of_the_wrong_shape():
    with pytest.raises(ValueError, match="`dcgan` is already registered"):
        gan.register_architecture("dcgan")(lambda cfg, *, channels, image_size, num_classes, critic: None)
    with pytest.raises(ValueError, match="takes no channels, image_size, num_classes, critic"):
        gan.register_architecture("no_kwargs")(lambda cfg: None)
    with pytest.raises(ValueError, match="lacks discriminator_loss"):
        gan.register_loss("half_a_loss")(type("Half", (), {"critic": False, "generator_loss": lambda *a: None}))
    with pytest.raises(ValueError, match="1 or 3"):
        gan.register_dataset(gan.DatasetInfo(name="two_channels", title="x", channels=2, image_size=28,
                                             num_classes=1, class_names=("a",), reader=print, files=list))
    with pytest.raises(ValueError, match="not dict"):
        gan.register_dataset({"name": "as_a_dict"})
    assert "no_kwargs" not in gan.ARCHITECTURES and "two_channels" not in gan.DATASETS



def _png_with_size(path, width: int, height: int) -> None:
    """A valid 1x1 PNG whose header says `width` x `height`, its checksum made to match."""
    import struct
    import zlib

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IHDR")
    data[start + 4:start + 12] = struct.pack(">II", width, height)
    data[start + 17:start + 21] = struct.pack(">I", zlib.crc32(bytes(data[start:start + 17])))
    path.write_bytes(bytes(data))


def test_sixteen_bit_greyscale_is_rescaled_not_saturated(tmp_path):
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    for i in range(2):
        Image.fromarray(ramp).save(tmp_path / f"{i}.png")
    assert Image.open(tmp_path / "0.png").mode.startswith("I")
    data = load_dataset(folder_cfg(tmp_path, image_size=64))
    pixels = data.images[0, 0].numpy().astype(int)
    expected = np.rint(ramp / 257.0)
    assert np.abs(pixels - expected).max() <= 2  # bicubic resampling at the same size moves a value by a step
    assert (pixels == 255).mean() < 0.01  # saturating to 8 bits made 99.6% of them white
    # a dark 16-bit image is scaled as the bright one is (by its bit depth, not its own maximum)
    (tmp_path / "dark").mkdir()
    for i in range(2):
        Image.fromarray((ramp // 16).astype(np.uint16)).save(tmp_path / "dark" / f"{i}.png")
    dark = load_dataset(folder_cfg(tmp_path / "dark", image_size=64)).images[0, 0].numpy().astype(int)
    assert np.abs(dark - np.rint((ramp // 16) / 257.0)).max() <= 2 and dark.max() <= 17


def test_an_oversized_or_truncated_image_is_refused_before_any_work(tmp_path):
    big = tmp_path / "big"
    big.mkdir()
    Image.new("L", (8, 8)).save(big / "ok.png")
    _png_with_size(big / "huge.png", 20000, 20000)
    with pytest.raises(ValueError, match=r"huge\.png: it is over 67108864 pixels"):
        dataset_info(folder_cfg(big))
    cut = tmp_path / "cut"
    cut.mkdir()
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(cut / "ok.png")
    whole = (cut / "ok.png").read_bytes()
    (cut / "cut.png").write_bytes(whole[: len(whole) - 30])
    with pytest.raises(ValueError, match=r"cannot read .*cut\.png"):
        dataset_info(folder_cfg(cut))


def test_links_out_of_the_folder_are_refused_and_dotfiles_skipped(tmp_path, digits):
    x, _ = digits
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    for i in range(3):
        Image.fromarray(x[i]).save(root / f"{i}.png")
    (root / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # what macOS leaves beside a copied file
    (root / ".hidden.png").write_bytes(b"not an image")
    info = dataset_info(folder_cfg(root))
    assert dict(info.split_sizes)["train"] == 3
    Image.fromarray(x[5]).save(elsewhere / "secret.png")
    (root / "3.png").symlink_to(elsewhere / "secret.png")
    with pytest.raises(ValueError, match=r"links lead out of the folder, which is not read: 3\.png"):
        dataset_info(folder_cfg(root))
    (root / "3.png").unlink()
    (root / "4.png").symlink_to(root / "0.png")  # a link that stays inside is read
    assert dict(dataset_info(folder_cfg(root)).split_sizes)["train"] == 4
    (root / "5.png").symlink_to(root / "5.png")  # a loop: refused by name, not a RuntimeError
    with pytest.raises(ValueError, match=r"5\.png \(leads nowhere\)"):
        dataset_info(folder_cfg(root))


def test_two_folders_alike_in_names_sizes_and_mtimes_do_not_share_a_cache_entry(tmp_path):
    """As a zip extraction makes them: the same names, sizes and mtimes, one black and one white."""
    black, white = tmp_path / "black", tmp_path / "white"
    for folder, value in ((black, 0), (white, 255)):
        folder.mkdir()
        for i in range(8):
            Image.fromarray(np.full((16, 16), value, np.uint8)).save(folder / f"{i}.bmp")  # BMP: equal sizes
            os.utime(folder / f"{i}.bmp", ns=(10**18, 10**18))
    assert [p.stat().st_size for p in sorted(black.iterdir())] == [p.stat().st_size for p in sorted(white.iterdir())]
    first = load_dataset(folder_cfg(black, image_size=16))
    second = load_dataset(folder_cfg(white, image_size=16))
    assert int(first.images.max()) == 0 and int(second.images.min()) == 255


def test_a_file_is_decoded_only_as_the_image_kind_its_suffix_allows(tmp_path, digits):
    """A `.png` holding PostScript is refused, not handed to PIL's EPS decoder (which runs Ghostscript)."""
    Image.fromarray(digits[0][0]).save(tmp_path / "0.png")
    (tmp_path / "1.png").write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    with pytest.raises(gan.DataError, match=r"cannot read .*1\.png"):
        dataset_info(folder_cfg(tmp_path))


def test_loose_images_beside_class_folders_are_refused_not_left_out(tmp_path, digits):
    for i, name in enumerate(["a/0.png", "a/1.png", "2.png"]):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(digits[0][i]).save(tmp_path / name)
    with pytest.raises(gan.DataError, match=r"class subfolders and also 1 image\(s\) at its top \(2\.png\)"):
        dataset_info(folder_cfg(tmp_path))


def test_a_float_image_with_nan_is_refused_and_an_odd_file_name_is_read(tmp_path, digits):
    odd = tmp_path / "odd"
    odd.mkdir()
    Image.fromarray(digits[0][0]).save(odd / os.fsdecode(b"bad\xff\xfe.png"))  # not UTF-8: any bytes may name a file
    assert load_dataset(folder_cfg(odd, image_size=28)).images.shape == (1, 1, 28, 28)
    nan = tmp_path / "nan"
    nan.mkdir()
    a = digits[0][0].astype(np.float32) / 255
    a[0, 0] = np.nan
    Image.fromarray(a, mode="F").save(nan / "0.tif")
    with pytest.raises(gan.DataError, match="not numbers"):
        load_dataset(folder_cfg(nan, image_size=28))


def _npz_bytes(tmp_path, digits) -> bytes:
    path = tmp_path / "made.npz"
    np.savez(path, x=digits[0][:50], y=digits[1][:50])  # stored, not compressed: the pixels are the bytes on disk
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["pixel", "label", "encrypted", "method"])
def test_a_damaged_npz_is_refused_when_described_before_any_work(tmp_path, digits, damage):
    """Every member is read through once while the spec is checked, so its checksums are checked too: a flipped
    byte, an encrypted member or an unknown compression is a one-line refusal, not a traceback in a trial."""
    data = bytearray(_npz_bytes(tmp_path, digits))
    if damage == "pixel":
        data[data.index(b"x.npy") + 400] ^= 0xFF  # inside x's pixels (its local header, then its .npy header)
    elif damage == "label":
        data[data.index(b"PK\x01\x02") - 1] ^= 0xFF  # the last byte of y, the last member's data
    else:  # the local header's flag bits (bit 0: encrypted) or its compression method (9: deflate64)
        at = 4 + (2 if damage == "encrypted" else 4)
        data[at:at + 2] = (1).to_bytes(2, "little") if damage == "encrypted" else (9).to_bytes(2, "little")
        central = data.index(b"PK\x01\x02")  # the central directory's copy of the same field
        at = central + 4 + (4 if damage == "encrypted" else 6)
        data[at:at + 2] = (1).to_bytes(2, "little") if damage == "encrypted" else (9).to_bytes(2, "little")
    path = tmp_path / "damaged.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(gan.DataError, match=r"npz: .*damaged\.npz is not a readable \.npz file"):
        dataset_info(DataConfig(name="npz", root=str(path)))


def test_an_npz_is_read_through_once_however_many_subsets_a_sweep_describes(tmp_path, digits, monkeypatch):
    import gan.data.npz as user

    path = tmp_path / "d.npz"
    np.savez(path, x=digits[0][::10], y=digits[1][::10])  # 60 digits of the three classes
    reads = []
    real = user._read_members
    monkeypatch.setattr(user, "_read_members", lambda *a: reads.append(a) or real(*a))
    for fraction in (0.25, 0.5, 1.0):
        assert dataset_info(DataConfig(name="npz", root=str(path), dataset_fraction=fraction)).num_classes == 3
    assert len(reads) == 1
    os.utime(path, ns=(1, 1))  # another version of the file: read again
    dataset_info(DataConfig(name="npz", root=str(path), dataset_fraction=0.75))
    assert len(reads) == 2
