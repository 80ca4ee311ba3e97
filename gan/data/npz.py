"""The `npz` dataset: one NumPy `.npz` file (`data.root` is its path) holding `x`, uint8 images (N, H, W),
(N, H, W, C) or (N, C, H, W) with C in 1 or 3, and optionally `y`, integer class labels (N,) from 0. It is read
with `allow_pickle=False`, so the file cannot run code, and read through once when it is described, so a damaged
member is found before any training. What it shares with the image folder is in gan.data.user.
"""

from __future__ import annotations

import dataclasses
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from gan.config import DataConfig
from gan.data.info import DataError, DataNotFoundError, DatasetInfo
from gan.data.user import data_root, fingerprint, keep_subset, no_files, one_split

__all__ = ["NPZ"]

MAX_CLASSES = 10_000  # labels an npz may use (each class gets a name, and a conditional model an embedding row)
MAX_NPZ_BYTES = 8 * 2**30  # an npz's arrays are read whole into memory
NPZ_MEMBERS = ("x.npy", "y.npy")  # what an npz may hold: `x`, and optionally `y`
_CHUNK_BYTES = 8 << 20  # bytes of an npz member read at a time (a whole number of labels of any dtype)


def _npz_header(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype, bool, int]]:
    """Shape, dtype, Fortran order and data offset of each array of an npz, read from their headers alone (no
    array is loaded). The archive must hold `x.npy` and optionally `y.npy`, nothing else (np.load would open a
    member named plain `x` before `x.npy`), and what their headers declare must fit MAX_NPZ_BYTES."""
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            other = [n for n in names if n not in NPZ_MEMBERS]
            if other or len(set(names)) != len(names):
                shown = ", ".join(repr(n) for n in (other or names)[:5])
                raise ValueError(f"npz: {path} must hold x.npy and optionally y.npy only; it also holds {shown}.")
            for name in names:
                with z.open(name) as f:
                    version = np.lib.format.read_magic(f)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read(f)
                    out[name[:-4]] = (shape, dtype, fortran, f.tell())
    except ValueError as e:
        if str(e).startswith("npz: "):
            raise
        raise _unreadable_npz(path, e) from None
    except _ZIP_ERRORS as e:
        raise _unreadable_npz(path, e) from None
    declared = sum(math.prod(shape) * dtype.itemsize for shape, dtype, _, _ in out.values())
    if declared > MAX_NPZ_BYTES:
        raise ValueError(f"npz: the arrays of {path} declare {declared / 2**30:.1f} GiB; at most "
                         f"{MAX_NPZ_BYTES // 2**30} GiB is read.")
    return out


# what zipfile and zlib raise on a damaged archive: a bad checksum, a corrupt or unknown compression, encryption
_ZIP_ERRORS = (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def _unreadable_npz(path: Path, e: BaseException) -> DataError:
    return DataError(f"npz: {path} is not a readable .npz file ({type(e).__name__}: {e}); write it again with "
                     "numpy.savez or numpy.savez_compressed.")


def _read_members(path: Path, arrays) -> tuple[int, int] | None:
    """Every member of the npz read through once, a chunk at a time, so a damaged one (its checksum, a cut or corrupt
    stream) is found before any training; returns the smallest and largest label of `y` (None without labels)."""
    span = None
    try:
        with zipfile.ZipFile(path) as z:
            for name, (shape, dtype, _, offset) in arrays.items():
                with z.open(f"{name}.npy") as f:
                    f.read(offset)
                    n = math.prod(shape)
                    left = n * dtype.itemsize
                    while left:
                        data = f.read(min(left, _CHUNK_BYTES))
                        if not data or len(data) % dtype.itemsize:
                            raise DataError(f"npz: `{name}` in {path} ends before the {n} values its header "
                                            "declares.")
                        if name == "y":
                            chunk = np.frombuffer(data, dtype=dtype)
                            low, high = int(chunk.min()), int(chunk.max())
                            span = (low, high) if span is None else (min(span[0], low), max(span[1], high))
                        left -= len(data)
                    if f.read(1):  # more than declared
                        raise DataError(f"npz: `{name}` in {path} holds more than the {n} values its header "
                                        "declares.")
                    # reaching the end of a member checks its CRC (zipfile raises BadZipFile on a mismatch)
    except DataError:
        raise
    except _ZIP_ERRORS as e:
        raise _unreadable_npz(path, e) from None
    return span


def _npz_layout(path: Path) -> tuple[int, int, int, str]:
    """(images, channels, side, layout) of a valid npz, or a ValueError saying what is wrong."""
    arrays = _npz_header(path)
    if "x" not in arrays:
        raise ValueError(f"npz: {path} has no array `x` (it has: {', '.join(arrays) or 'none'}).")
    shape, dtype, _, _ = arrays["x"]
    if dtype != np.uint8:
        raise ValueError(f"npz: `x` in {path} is {dtype}, but must be uint8 pixels (0 to 255).")
    if len(shape) == 3:
        layout = "NHW"
    elif len(shape) == 4 and shape[1] in (1, 3) and shape[3] not in (1, 3):
        layout = "NCHW"
    elif len(shape) == 4 and shape[3] in (1, 3):
        layout = "NHWC"
    else:
        raise ValueError(f"npz: `x` in {path} has shape {shape}, but must be (N, H, W), (N, H, W, C) or "
                         "(N, C, H, W) with C 1 or 3.")
    h, w = (shape[1], shape[2]) if layout in ("NHW", "NHWC") else (shape[2], shape[3])
    if h != w:
        raise ValueError(f"npz: the images in {path} are {h}x{w}; they must be square.")
    if "y" in arrays:
        y_shape, y_dtype, _, _ = arrays["y"]
        if y_shape != (shape[0],) or y_dtype.kind not in "iu":
            raise ValueError(f"npz: `y` in {path} is {y_dtype} of shape {y_shape}, but must be integer labels "
                             f"of shape ({shape[0]},).")
    channels = 1 if layout == "NHW" else (shape[1] if layout == "NCHW" else shape[3])
    return shape[0], channels, h, layout


def _describe_npz(cfg: DataConfig) -> DatasetInfo:
    path = data_root(cfg, "an .npz file")
    one_split(cfg, f"npz {path}")
    if not path.is_file():
        raise DataNotFoundError(f"npz: `data.root` {path} is not a file.")
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise ValueError(
            f"npz: {path} is {path.stat().st_size / 2**30:.1f} GiB; at most {MAX_NPZ_BYTES // 2**30} GiB is read."
        )
    n, channels, side, _ = _npz_layout(path)
    num_classes = 1
    span = _read_members(path, _npz_header(path))  # every byte read through: damage is found now, not in a trial
    if span is not None:
        if span[0] < 0:
            raise ValueError(f"npz: `y` in {path} has the label {span[0]}; labels count from 0.")
        if span[1] >= MAX_CLASSES:
            raise ValueError(f"npz: `y` in {path} has the label {span[1]}; labels count from 0 up to at most "
                             f"{MAX_CLASSES - 1}.")
        num_classes = span[1] + 1
    return dataclasses.replace(
        NPZ, title=f"npz {path}", channels=channels, image_size=side, num_classes=num_classes,
        class_names=tuple(str(i) for i in range(num_classes)), split_sizes=(("train", n), ("all", n)),
        fingerprint=fingerprint([path], path), describe=None)


def _read_npz(info: DatasetInfo, folder: Path, cfg: DataConfig, seed: int):
    import torch

    one_split(cfg, info.title)
    path = data_root(cfg, "an .npz file")
    _, _, _, layout = _npz_layout(path)
    with np.load(path, allow_pickle=False) as z:
        x = z["x"]
        y = z["y"].astype(np.int64) if "y" in z.files else np.zeros(x.shape[0], dtype=np.int64)
    images = torch.from_numpy(x)
    images = {"NHW": lambda t: t[:, None], "NHWC": lambda t: t.permute(0, 3, 1, 2), "NCHW": lambda t: t}[layout](images)
    labels = torch.from_numpy(y)
    keep = keep_subset(labels, cfg, seed)
    if keep is not None:
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


NPZ = DatasetInfo(
    name="npz", title="npz", channels=0, image_size=0, num_classes=0, class_names=(),
    reader=_read_npz, files=no_files, describe=_describe_npz,
    how_to_get="set `data.root` to an .npz file with a uint8 array `x` and optional integer labels `y`")
