"""Datasets that are the user's own files, named by `data.root`:

- `image_folder`: a folder of images (PNG, JPEG, BMP, GIF, WebP, TIFF), either one subfolder per class
  (`root/<class>/<image>`, classes in sorted order) or flat for an unconditional GAN (`root/<image>`).
  One channel if every image is greyscale, else three (RGB). Images of any size are centre-cropped to a square and
  resized to `data.image_size` (None = 64) once;
  the decoded tensor is cached on disk, like CelebA's.
- `npz`: one NumPy `.npz` file (`data.root` is its path) holding `x`, uint8 images (N, H, W),
  (N, H, W, C) or (N, C, H, W) with C in 1 or 3, and optionally `y`, integer class labels (N,) from 0.
  It is read with `allow_pickle=False`, so the file cannot run code.

Neither has a test split: `train` and `all` are every image, and the domain classifier holds out 20% of
them. What a folder holds (channels, side, classes) is read from its files by `describe`, before any
training. The entry's `fingerprint` (file names, sizes and modification times) enters every cache key
(decoded images, real-data statistics, classifier), so editing the files invalidates the caches.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from record.files import atomic_path
from gan.config import DataConfig
from gan.data.info import DataError, DataNotFoundError, DatasetInfo, cache_dir

if TYPE_CHECKING:  # torch is imported by the readers: checking a spec reads this module's entries, never torch
    import torch

__all__ = ["IMAGE_FOLDER", "NPZ"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# the decoders PIL may use on a file of any of those suffixes (PIL would otherwise pick one by the content: a `.png`
# holding PostScript would be handed to Ghostscript)
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
DEFAULT_SIDE = 64  # image_folder's side when `data.image_size` is None
MAX_NPZ_BYTES = 8 * 2**30  # an npz's arrays are read whole into memory
MAX_PIXELS = 1 << 26  # pixels of one image (8192 x 8192); a larger header is refused before it is decoded
MAX_CLASSES = 10_000  # labels an npz may use (each class gets a name, and a conditional model an embedding row)


def _root(cfg: DataConfig, what: str) -> Path:
    if not cfg.root:
        raise DataNotFoundError(
            f"`data.name: {cfg.name}` reads {what}, but `data.root` is not set; set it to its path."
        )
    return Path(cfg.root).expanduser().resolve()


def _one_split(cfg: DataConfig, title: str) -> None:
    if cfg.split == "test":  # a FileNotFoundError: the classifier then holds out part of the images instead
        raise DataNotFoundError(f"{title} has no test split; use `data.split: train` (every image).")


def _fingerprint(files: list[Path], base: Path) -> str:
    """What identifies the files' contents without reading them: the resolved folder, and each file's name, size,
    modification and change times and inode. Two folders that a zip extraction made alike in names, sizes and
    mtimes still differ in their path and inodes, and editing a file in place changes its ctime."""
    h = hashlib.md5(os.fsencode(base.resolve()) + b"\n")  # names as the file system holds them: any bytes
    for f in files:
        st = f.stat()
        name = f.relative_to(base) if f != base else f.name
        h.update(os.fsencode(name) + f"|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}|{st.st_ino}\n".encode())
    return h.hexdigest()


# -- image_folder ---------------------------------------------------------------------------

def _listing(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """(image files, their class indices, class names) of a class-per-subfolder or a flat folder."""
    if not root.is_dir():
        raise DataNotFoundError(f"image_folder: `data.root` {root} is not a folder.")

    outside: list[str] = []

    def inside(p: Path) -> bool:  # a link may point anywhere: only what stays under the root is read
        if p.is_symlink():
            try:
                target = p.resolve(strict=True)
            except (OSError, RuntimeError):  # a dangling link, or a loop
                outside.append(f"{p.relative_to(root)} (leads nowhere)")
                return False
            if not target.is_relative_to(root):
                outside.append(str(p.relative_to(root)))
                return False
        return True

    def images(folder: Path) -> list[Path]:  # dotfiles (macOS's AppleDouble `._x.png`, editors' files) are skipped
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
                      and inside(p) and p.is_file())

    classes = sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and inside(p) and p.is_dir())
    per_class = [images(root / c) for c in classes]
    if outside:
        raise DataError(f"image_folder {root}: these links lead out of the folder, which is not read: "
                         f"{', '.join(sorted(outside)[:5])}{' ...' if len(outside) > 5 else ''}; copy the images in "
                         "or link the folder itself.")
    if classes and any(per_class):
        loose = images(root)
        if loose:
            raise DataError(f"image_folder {root}: it holds class subfolders and also {len(loose)} image(s) at its "
                            f"top ({', '.join(p.name for p in loose[:3])}{' ...' if len(loose) > 3 else ''}), which "
                            "would be left out; move them into a class folder, or keep the folder flat.")
        empty = [c for c, files in zip(classes, per_class) if not files]
        if empty:
            raise DataNotFoundError(f"image_folder {root}: the class folder(s) {', '.join(empty)} hold no images "
                                    f"({', '.join(IMAGE_SUFFIXES)}).")
        files = [f for group in per_class for f in group]
        labels = [i for i, group in enumerate(per_class) for _ in group]
        return files, labels, tuple(classes)
    files = images(root)
    if not files:
        raise DataNotFoundError(f"image_folder {root}: no images ({', '.join(IMAGE_SUFFIXES)}) in it or in "
                                "one subfolder per class.")
    return files, [0] * len(files), ("image",)


def _describe_image_folder(cfg: DataConfig) -> DatasetInfo:
    from PIL import Image

    root = _root(cfg, "a folder of images")
    _one_split(cfg, f"image folder {root}")
    files, _, classes = _listing(root)
    grey = True
    for f in files:  # the header, and for PNG every chunk's checksum (a truncated file is found now), not the pixels
        try:
            with Image.open(f, formats=IMAGE_FORMATS) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ValueError(f"it is {w}x{h}, over {MAX_PIXELS} pixels; scale it down first")
                grey = grey and im.mode in GREY_MODES
                im.verify()
        except Image.DecompressionBombError as e:  # PIL's own limit, met before its size can be read
            raise DataError(f"image_folder: cannot read {f}: it is over {MAX_PIXELS} pixels ({e})") from None
        except Exception as e:  # noqa: BLE001 (a damaged file makes PIL's decoders raise almost anything)
            raise DataError(f"image_folder: cannot read {f}: {_unreadable(e)}") from None
    channels = 1 if grey else 3
    return dataclasses.replace(
        IMAGE_FOLDER, title=f"image folder {root}", channels=channels, image_size=cfg.image_size or DEFAULT_SIDE,
        num_classes=len(classes), class_names=classes, split_sizes=(("train", len(files)), ("all", len(files))),
        fingerprint=_fingerprint(files, root), describe=None)


GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")


def _unreadable(e: Exception) -> str:
    """Why PIL could not read a file, in words: its message, and the kind of error where that alone is unclear."""
    if isinstance(e, ValueError | OSError) and str(e):
        return str(e)
    return f"{type(e).__name__}: {e}" if str(e) else f"{type(e).__name__} (a damaged or unsupported file)"


def _eight_bit(im):
    """A 16-bit or float greyscale image rescaled to 8 bits by its mode, the same for every image of a folder (PIL's
    own conversion would clip every value over 255 to white): integer modes as 16 bits (0..65535 -> 0..255;
    PIL opens a 16-bit PNG as I;16 or I), float as [0, 1]. Values outside those ranges are refused."""
    from PIL import Image

    if im.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return im
    a = np.asarray(im, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError("a float image with values that are not numbers (NaN) or infinite")
    low, top = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if im.mode == "F":
        if low < 0 or top > 1:
            raise ValueError(f"a float image with values from {low:g} to {top:g}; float images must be in [0, 1]")
        scale = 255.0
    else:
        if low < 0 or top > 65535:
            raise ValueError(f"a 32-bit image with values from {low:g} to {top:g}; integer images must be 8 or 16 "
                             "bits")
        scale = 255.0 / 65535.0
    return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8), mode="L")


def _read_image_folder(info: DatasetInfo, folder: Path, cfg: DataConfig, seed: int):
    import torch
    from PIL import Image

    _one_split(cfg, info.title)
    files, labels, _ = _listing(folder)
    labels_t = torch.tensor(labels, dtype=torch.long)
    keep = _subset(labels_t, cfg, seed)
    if keep is not None:
        files, labels_t = [files[i] for i in keep], labels_t[keep]
    side = info.image_size
    key = hashlib.md5(
        f"{info.fingerprint}|{side}|{info.channels}|".encode() + b",".join(os.fsencode(f.name) for f in files)
    ).hexdigest()
    cached = cache_dir() / "decoded" / f"image_folder-{key}.npy"
    if cached.is_file():
        images = np.load(cached, allow_pickle=False)
    else:
        images = np.empty((len(files), info.channels, side, side), dtype=np.uint8)
        for i, f in enumerate(files):
            try:
                with Image.open(f, formats=IMAGE_FORMATS) as im:
                    w, h = im.size
                    if w * h > MAX_PIXELS:
                        raise ValueError(f"it is {w}x{h}, over {MAX_PIXELS} pixels")
                    s = min(w, h)
                    im = _eight_bit(im).convert("L" if info.channels == 1 else "RGB")
                    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                    pixels = np.asarray(im.resize((side, side), Image.BICUBIC))
            except Exception as e:  # noqa: BLE001 (a damaged file makes PIL's decoders raise almost anything)
                raise DataError(f"image_folder: cannot read {f}: {_unreadable(e)}") from None
            images[i] = pixels[None] if info.channels == 1 else pixels.transpose(2, 0, 1)
        with atomic_path(cached) as tmp, open(tmp, "wb") as out:
            np.save(out, images)
    return torch.from_numpy(images), labels_t


def _subset(labels: torch.Tensor, cfg: DataConfig, seed: int) -> torch.Tensor | None:
    from gan.data.subsets import stratified_subset

    if cfg.num_images is None and cfg.dataset_fraction >= 1.0:
        return None
    return stratified_subset(labels, fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed)


# -- npz --------------------------------------------------------------------------------------

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


@functools.lru_cache(maxsize=16)
def _read_through(path: Path, stamp: tuple) -> tuple[int, int] | None:
    """`_read_members` once per version of the file (`stamp`: its size, times and inode), however many data configs
    of a sweep (its subsets, say) describe it."""
    return _read_members(path, _npz_header(path))


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
    path = _root(cfg, "an .npz file")
    _one_split(cfg, f"npz {path}")
    if not path.is_file():
        raise DataNotFoundError(f"npz: `data.root` {path} is not a file.")
    if path.stat().st_size > MAX_NPZ_BYTES:
        raise ValueError(
            f"npz: {path} is {path.stat().st_size / 2**30:.1f} GiB; at most {MAX_NPZ_BYTES // 2**30} GiB is read."
        )
    n, channels, side, _ = _npz_layout(path)
    num_classes = 1
    st = path.stat()  # every byte read through once per version of the file: damage is found now, not in a trial
    span = _read_through(path, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
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
        fingerprint=_fingerprint([path], path), describe=None)


def _read_npz(info: DatasetInfo, folder: Path, cfg: DataConfig, seed: int):
    import torch

    _one_split(cfg, info.title)
    path = _root(cfg, "an .npz file")
    _, _, _, layout = _npz_layout(path)
    with np.load(path, allow_pickle=False) as z:
        x = z["x"]
        y = z["y"].astype(np.int64) if "y" in z.files else np.zeros(x.shape[0], dtype=np.int64)
    images = torch.from_numpy(x)
    images = {"NHW": lambda t: t[:, None], "NHWC": lambda t: t.permute(0, 3, 1, 2), "NCHW": lambda t: t}[layout](images)
    labels = torch.from_numpy(y)
    keep = _subset(labels, cfg, seed)
    if keep is not None:
        images, labels = images[keep], labels[keep]
    return images.contiguous(), labels


def _no_files(split: str) -> list[str]:
    return []  # `describe` has checked the path; the folder located is `data.root` itself (or its parent for npz)


IMAGE_FOLDER = DatasetInfo(
    name="image_folder", title="image folder", channels=0, image_size=DEFAULT_SIDE, num_classes=0, class_names=(),
    reader=_read_image_folder, files=_no_files, describe=_describe_image_folder,
    how_to_get="set `data.root` to a folder of images, flat or one subfolder per class")
NPZ = DatasetInfo(
    name="npz", title="npz", channels=0, image_size=0, num_classes=0, class_names=(),
    reader=_read_npz, files=_no_files, describe=_describe_npz,
    how_to_get="set `data.root` to an .npz file with a uint8 array `x` and optional integer labels `y`")
