"""A fuzzer for the user's own data files: npz archives (member names, header shapes and dtypes, truncated data)
and image folders (modes, bit depths, sizes, truncation, links out of the folder, dotfiles). Describing or
reading one either works or is refused with a ValueError or DataNotFoundError that says what is wrong: never
another exception, never a read outside the given root, and memory bounded by what the files really hold.

`GANSWEEP_FUZZ_EXAMPLES` sets the number of cases (CI: the default below)."""

from __future__ import annotations

import io
import os
import tracemalloc
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gan.config import DataConfig
from gan.data import DataNotFoundError, dataset_info, load_dataset

EXAMPLES = int(os.environ.get("GANSWEEP_FUZZ_EXAMPLES", "60"))
MEMORY = 64 * 2**20  # peak traced memory of one describe and read: the files here hold at most a few MB

shapes = st.lists(st.integers(0, 2**40), min_size=0, max_size=5).map(tuple)
small_shapes = st.sampled_from([(4, 8, 8), (4, 8, 8, 1), (4, 1, 8, 8), (4, 8, 8, 3), (4, 3, 8, 8), (0, 8, 8),
                                (4, 8, 9), (4,), (4, 2, 8, 8)])
dtypes = st.sampled_from(["|u1", "<i8", "<f4", "|b1", "<u2", ">i4", "|O", "<c8"])
members = st.dictionaries(st.sampled_from(["x.npy", "y.npy", "x", "y", "../x.npy", "x.npy/", "z.npy", "X.npy"]),
                          st.tuples(st.one_of(shapes, small_shapes), dtypes, st.integers(0, 4096), st.booleans()),
                          max_size=3)
# what a few hundred KB of compressed zeros can declare and hold: 10 million images and labels, 76 MiB of labels
many = {"x.npy": ((10**7, 8, 8), "|u1", None, True), "y.npy": ((10**7,), "<i8", None, True)}
archives = st.one_of(members, st.just(many))


def _archive(path, spec) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (shape, dtype, written, good_header) in spec.items():
            head = io.BytesIO()
            if good_header:
                try:
                    np.lib.format.write_array_header_2_0(head, {"descr": dtype, "fortran_order": False,
                                                                "shape": shape})
                except ValueError:
                    head = io.BytesIO(b"\x93NUMPY\x02\x00")
            else:
                head.write(b"\x93NUMPY garbage header")
            if written is None:  # every byte the header declares, streamed
                with z.open(name, "w", force_zip64=True) as f:
                    f.write(head.getvalue())
                    left = int(np.prod(shape)) * np.dtype(dtype).itemsize
                    while left:
                        f.write(bytes(min(left, 1 << 24)))
                        left -= min(left, 1 << 24)
            else:
                z.writestr(name, head.getvalue() + bytes(written))


def _bounded(call):
    tracemalloc.start()
    try:
        try:
            call()
        except (ValueError, DataNotFoundError) as e:
            assert str(e), "an error without a message"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY, peak


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=archives)
def test_any_npz_is_described_or_refused_with_a_message_in_bounded_memory(tmp_path_factory, spec):
    """Describing an npz (what --dry-run does) reads its headers, and its labels a chunk at a time; reading one
    that is small enough to train on works or says why not."""
    path = tmp_path_factory.mktemp("npz") / "data.npz"
    _archive(path, spec)
    cfg = DataConfig(name="npz", root=str(path))
    _bounded(lambda: dataset_info(cfg))
    if path.stat().st_size < 100_000:
        _bounded(lambda: load_dataset(cfg))


modes = st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F"])
formats = st.sampled_from(["png", "bmp", "gif", "tiff", "jpg"])
images = st.lists(st.tuples(modes, formats, st.integers(1, 40), st.integers(1, 40), st.integers(0, 100),
                            st.sampled_from(["", ".", "._"])), min_size=0, max_size=5)


def _image(path, mode, fmt, w, h, cut) -> bool:
    rng = np.random.default_rng(w * 41 + h)
    try:
        if mode in ("I", "I;16"):
            im = Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16 if mode == "I;16" else np.int32))
        elif mode == "F":
            im = Image.fromarray(rng.random((h, w)).astype(np.float32))
        else:
            im = Image.new(mode, (w, h), color=int(rng.integers(0, 255)) if mode in ("1", "L", "P", "I") else None)
        im.save(path, format={"jpg": "JPEG", "tiff": "TIFF"}.get(fmt, fmt.upper()))
    except (OSError, ValueError, KeyError):
        return False  # a mode this format cannot hold
    data = path.read_bytes()
    if cut:
        path.write_bytes(data[: max(1, len(data) * (100 - cut) // 100)])
    return True


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=images, link_out=st.booleans(), classes=st.booleans())
def test_any_image_folder_is_read_or_refused_with_a_message_never_outside_its_root(tmp_path_factory, files,
                                                                                   link_out, classes):
    base = tmp_path_factory.mktemp("images")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    Image.new("L", (8, 8), 200).save(outside / "secret.png")
    for i, (mode, fmt, w, h, cut, prefix) in enumerate(files):
        folder = root / f"class{i % 2}" if classes else root
        folder.mkdir(exist_ok=True)
        _image(folder / f"{prefix}{i}.{fmt}", mode, fmt, w, h, cut)
    if link_out:
        (root / "link.png").symlink_to(outside / "secret.png")
    cfg = DataConfig(name="image_folder", root=str(root), image_size=8)
    seen = []

    def read():
        info = dataset_info(cfg)
        data = load_dataset(cfg)
        seen.append((info, data))

    _bounded(read)
    if seen and link_out:  # read only if the link was refused... or never followed out
        raise AssertionError("a link out of the folder was read")
