"""Finding a dataset's raw files: `data.root`; `$GANSWEEP_DATA_DIR/<name>`; the dataset's system folders;
the download cache; and, with `data.download: true`, its downloader. Nothing here touches the network otherwise."""

from __future__ import annotations

import os
from pathlib import Path

from gan.config import DataConfig
from gan.data.info import DataNotFoundError, DatasetInfo, cache_dir

__all__ = ["locate_dataset"]


def _candidate_dirs(cfg: DataConfig, info: DatasetInfo) -> list[Path]:
    dirs = []
    if cfg.root:
        dirs.append(Path(cfg.root).expanduser())
    if os.environ.get("GANSWEEP_DATA_DIR"):
        dirs.append(Path(os.environ["GANSWEEP_DATA_DIR"]).expanduser() / info.name)
    dirs += [Path(d) for d in info.system_dirs]
    dirs.append(cache_dir() / "datasets" / info.name)
    return dirs


def _has_split(folder: Path, info: DatasetInfo, split: str) -> bool:
    return all((folder / n).exists() or (folder / f"{n}.gz").exists() for n in info.files(split))


def locate_dataset(cfg: DataConfig, info: DatasetInfo) -> Path:
    """The folder holding the raw files of the configured split; raises DataNotFoundError saying where it looked."""
    splits = info.file_splits(cfg.split)
    dirs = _candidate_dirs(cfg, info)
    for folder in dirs:
        if all(_has_split(folder, info, s) for s in splits):
            return folder
    if cfg.download and info.downloader is not None:
        folder = info.downloader(cache_dir() / "datasets" / info.name, cfg.split)
        if all(_has_split(folder, info, s) for s in splits):
            return folder
    needed = sorted({n for s in splits for n in info.files(s)})
    looked = "\n".join(f"  - {d}" + ("" if d.exists() else " (does not exist)") for d in dirs)
    raise DataNotFoundError(
        f"{info.title} ({cfg.split} split) not found. Looked for {', '.join(needed)} "
        f"(IDX files may be gzipped) in:\n{looked}\nTo get it: {info.how_to_get}."
    )
