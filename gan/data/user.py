"""Datasets that are the user's own files, named by `data.root`, and what they share:

- `image_folder` (here): a folder of images (PNG, JPEG, BMP, GIF, WebP, TIFF), either one subfolder per class
  (`root/<class>/<image>`, classes in sorted order) or flat for an unconditional GAN (`root/<image>`).
  One channel if every image is greyscale, else three (RGB). Images of any size are centre-cropped to a square and
  resized to `data.image_size` (None = 64) once;
  the decoded tensor is cached on disk, like CelebA's.
- `npz` (gan.data.npz): one NumPy `.npz` file.

Neither has a test split: `train` and `all` are every image, and the domain classifier holds out 20% of
them. What a folder holds (channels, side, classes) is read from its files by `describe`, before any
training. The entry's `fingerprint` (file names, sizes and modification times) enters every cache key
(decoded images, real-data statistics, classifier), so editing the files invalidates the caches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from record.files import atomic_path
from gan.config import DataConfig
from gan.data.info import DataError, DataNotFoundError, DatasetInfo, cache_dir

if TYPE_CHECKING:  # torch is imported by the readers: checking a spec reads this module's entries, never torch
    import torch

__all__ = ["IMAGE_FOLDER", "data_root", "fingerprint", "keep_subset", "no_files", "one_split"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# the decoders PIL may use on a file of any of those suffixes (PIL would otherwise pick one by the content: a `.png`
# holding PostScript would be handed to Ghostscript)
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
DEFAULT_SIDE = 64  # image_folder's side when `data.image_size` is None
MAX_PIXELS = 1 << 26  # pixels of one image (8192 x 8192); a larger header is refused before it is decoded


def data_root(cfg: DataConfig, what: str) -> Path:
    if not cfg.root:
        raise DataNotFoundError(
            f"`data.name: {cfg.name}` reads {what}, but `data.root` is not set; set it to its path."
        )
    return Path(cfg.root).expanduser().resolve()


def one_split(cfg: DataConfig, title: str) -> None:
    if cfg.split == "test":  # a FileNotFoundError: the classifier then holds out part of the images instead
        raise DataNotFoundError(f"{title} has no test split; use `data.split: train` (every image).")


def fingerprint(files: list[Path], base: Path) -> str:
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

    root = data_root(cfg, "a folder of images")
    one_split(cfg, f"image folder {root}")
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
        fingerprint=fingerprint(files, root), describe=None)


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

    one_split(cfg, info.title)
    files, labels, _ = _listing(folder)
    labels_t = torch.tensor(labels, dtype=torch.long)
    keep = keep_subset(labels_t, cfg, seed)
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


def keep_subset(labels: torch.Tensor, cfg: DataConfig, seed: int) -> torch.Tensor | None:
    from gan.data.subsets import stratified_subset

    if cfg.num_images is None and cfg.dataset_fraction >= 1.0:
        return None
    return stratified_subset(labels, fraction=cfg.dataset_fraction, count=cfg.num_images, seed=seed)


def no_files(split: str) -> list[str]:
    return []  # `describe` has checked the path; the folder located is `data.root` itself (or its parent for npz)


IMAGE_FOLDER = DatasetInfo(
    name="image_folder", title="image folder", channels=0, image_size=DEFAULT_SIDE, num_classes=0, class_names=(),
    reader=_read_image_folder, files=no_files, describe=_describe_image_folder,
    how_to_get="set `data.root` to a folder of images, flat or one subfolder per class")
