"""Shipping a spec's plugins to Ray's workers. The plugins are the modules that register the user's
architectures, losses, datasets and metrics (gan.registration), named by `plugins: [my_lab.gans]`; the
driver imports them before it validates the spec, and every trial again before it builds its config.

Ray ships their code to every worker (`runtime_env` `py_modules`: each plugin's top-level package
folder, or its module file), so a cluster's workers need no copy of it and no shared filesystem; a plugin
installed in the environment (site-packages) is not shipped, as the workers have the same environment.
"""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

__all__ = ["ship_paths"]


def ship_paths(names: tuple[str, ...]) -> list[str]:
    """What Ray's `py_modules` must carry for these (imported) plugins: the folder of each one's top-level
    package, or its module file; nothing for what the environment itself installed."""
    installed = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                             sysconfig.get_paths()["stdlib"])}
    paths = []
    for name in names:
        top = name.split(".")[0]
        spec = importlib.util.find_spec(top)
        if spec is None or spec.origin in ("built-in", "frozen"):
            continue
        if spec.submodule_search_locations:  # a package; a namespace package (no __init__.py) may span folders
            found = [Path(p).resolve() for p in spec.submodule_search_locations]
        elif spec.origin is not None:
            found = [Path(spec.origin).resolve()]
        else:
            continue
        for path in found:
            if not any(path.is_relative_to(p) for p in installed) and str(path) not in paths:
                paths.append(str(path))
    return paths
