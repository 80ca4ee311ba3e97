"""Registering an architecture, a loss, a dataset or a metric: the functions the built-in entries use too.

A spec names the modules that call them (`plugins: [my_lab.gans]`); see docs/plugins.md. Each name
becomes valid in a config (`model.arch`, `loss.name`, `data.name`, `evaluation.metrics`) once its module
is imported; a name registered twice is an error.

- `@register_architecture(name)` on `fn(model_cfg, *, channels, image_size, num_classes, critic) -> (G, D)`:
  `G(z, y)` maps noise (B, latent_dim) and labels (B,) to images (B, channels, image_size, image_size) in
  [-1, 1] (tanh) or [0, 1] (sigmoid, `model.output_activation`); `D(x, y)` maps images to logits (B,),
  never a sigmoid. `y` is None unless `model.conditional`. With `critic=True` (wgan-gp) D must not mix
  samples (no batch norm). The builder may carry `check(model_cfg, image_size)`, raising ValueError for a
  geometry it cannot build, and `label_encodings`, the `model.label_encoding` names it supports.
- `@register_loss(name)` on a class built as `cls(loss_cfg)`, with `critic` (bool), `discriminator_loss(D,
  real, fake, y, gen) -> (loss, stats)`, `generator_loss(D, fake, y) -> (loss, stats)` and
  `after_discriminator_step(D)`; stats are detached scalar tensors (gan.losses).
- `register_dataset(info)` with a `gan.data.DatasetInfo`: its `reader(info, folder, data_cfg, seed)`
  returns uint8 images (N, C, H, W) and int64 labels (N,) of the configured split and subset, from the
  folder where `files(split)` are found (`data.root`, `$GANSWEEP_DATA_DIR/<name>`, `system_dirs`, the cache).
- `register_metric(name, outputs, ...)`: gan.metrics.registry.register_metric, on `fn(ctx) -> {output: value}`.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Callable, Mapping

from record.errors import GansweepError
from gan._registry import ARCHITECTURES, DATASETS, LOSSES

__all__ = ["PluginError", "check_plugin_names", "import_plugins", "register_architecture", "register_dataset",
           "register_loss", "register_metric"]

_LOSS_METHODS = ("discriminator_loss", "generator_loss", "after_discriminator_step")


def _check_name(kind: str, name: object) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"The name of a registered {kind} is {name!r}, but must be a non-empty string.")


def register_architecture(name: str) -> Callable:
    """Decorator: register a `(G, D)` builder under `model.arch: name`."""
    _check_name("architecture", name)

    def decorator(builder: Callable) -> Callable:
        if not callable(builder):
            raise ValueError(f"The architecture `{name}` is {builder!r}, but must be a builder function.")
        params = inspect.signature(builder).parameters
        missing = [k for k in ("channels", "image_size", "num_classes", "critic") if k not in params]
        if missing and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise ValueError(f"The architecture `{name}`'s builder takes no {', '.join(missing)}; it must be "
                             "`fn(model_cfg, *, channels, image_size, num_classes, critic) -> (G, D)`.")
        ARCHITECTURES.add(name, builder)
        return builder

    return decorator


def register_loss(name: str) -> Callable:
    """Decorator: register a loss class under `loss.name: name`."""
    _check_name("loss", name)

    def decorator(cls: type) -> type:
        missing = [m for m in _LOSS_METHODS if not callable(getattr(cls, m, None))]
        if missing or not isinstance(getattr(cls, "critic", None), bool):
            raise ValueError(f"The loss `{name}` lacks {', '.join(missing) or '`critic`'}; a loss class has `critic` "
                             f"(bool) and {', '.join(_LOSS_METHODS)} (gan.losses).")
        LOSSES.add(name, cls)
        return cls

    return decorator


def register_dataset(info):
    """Register a dataset under `data.name: info.name`; returns `info`."""
    from gan.data.info import DatasetInfo  # here: gan.data registers its own datasets through this module

    if not isinstance(info, DatasetInfo):
        raise ValueError(f"A dataset is registered as a gan.data.DatasetInfo, not {type(info).__name__}.")
    _check_name("dataset", info.name)
    if info.describe is None:
        if info.channels not in (1, 3):
            raise ValueError(f"The dataset `{info.name}` has {info.channels} channels, but must have 1 or 3.")
        if info.num_classes < 1 or len(info.class_names) != info.num_classes:
            raise ValueError(f"The dataset `{info.name}` has {info.num_classes} classes and {len(info.class_names)} "
                             "class names; it needs at least 1 class, and one name per class.")
        if not 8 <= info.image_size <= 256:
            raise ValueError(
                f"The dataset `{info.name}` has images of side {info.image_size}, but must be from 8 to 256."
            )
    if not callable(info.reader) or not callable(info.files):
        raise ValueError(f"The dataset `{info.name}` needs a callable `reader` and `files`.")
    DATASETS.add(info.name, info)
    return info


def register_metric(name: str, outputs: Mapping[str, str], **kwargs) -> Callable:
    """gan.metrics.registry.register_metric."""
    from gan.metrics.registry import register_metric as register

    return register(name, outputs, **kwargs)


# -- plugins: the modules that call these ---------------------------------------------------

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MAX_PLUGINS = 32


class PluginError(GansweepError, ValueError):
    """A plugin could not be named or imported; the message says which and why."""


def check_plugin_names(names: object) -> tuple[str, ...]:
    """The `plugins` list as module names, or a PluginError saying what is allowed."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PluginError("must be a list of module names (e.g. [my_lab.gans]).")
    if len(names) > MAX_PLUGINS:
        raise PluginError(f"lists {len(names)} modules; at most {MAX_PLUGINS}.")
    for i, name in enumerate(names):
        if not _MODULE.fullmatch(name):
            raise PluginError(
                f"entry {i} is {name!r}, but must be a dotted module name (e.g. my_lab.gans), not a path."
            )
    return tuple(dict.fromkeys(names))


def import_plugins(names: tuple[str, ...], spec_dir: Path | None = None) -> None:
    """Import each plugin module (once per process). A name the environment cannot import is looked for in
    `spec_dir`, the spec's folder, for that name alone: the folder is never put on `sys.path`, so a file there
    that shares a name with a module some library tries (a `ujson.py`) is not run. Where a spec file names them
    (`spec_dir` given), a plugin's code is run only if nobody else may have written it, wherever it is found
    outside the interpreter's own library folders: the spec's folder, the working folder (`python -m` puts it
    on the import path), PYTHONPATH."""
    for name in names:
        try:
            _import(name, spec_dir)
        except PluginError:
            raise
        except ModuleNotFoundError as e:
            where = f" or in the spec's folder {spec_dir}" if spec_dir is not None else ""
            raise PluginError(
                f"cannot import `{name}`: no module named {e.name!r} on the import path{where}."
            ) from None
        except SystemExit as e:  # a plugin that ends the process on import: say so instead of ending silently
            raise PluginError(f"importing `{name}` called sys.exit({e.code!r}); a plugin module must only register "
                              "what it defines.") from None
        except KeyboardInterrupt:
            raise PluginError(f"importing `{name}` was interrupted (Ctrl-C).") from None
        except BaseException as e:  # noqa: BLE001 (the plugin's own code failed, with whatever it raised: say where)
            raise PluginError(f"importing `{name}` failed: {type(e).__name__}: {e}") from None


def _import(name: str, spec_dir: Path | None) -> None:
    """`name` from the environment, else its top-level module or package from `spec_dir` alone (a finder limited to
    that folder and that name); the rest of a dotted name then comes from the package itself."""
    top = name.split(".")[0]
    if top not in sys.modules:
        found = importlib.util.find_spec(top)
        if found is not None:
            if spec_dir is not None:
                _check_trusted(top, found, None)
        elif spec_dir is not None:
            found = importlib.machinery.PathFinder.find_spec(top, [str(Path(spec_dir).resolve())])
            if found is not None:
                _check_trusted(top, found, Path(spec_dir))
                module = importlib.util.module_from_spec(found)
                sys.modules[top] = module
                try:
                    if found.loader is not None:  # None: a namespace package (a folder without __init__.py)
                        found.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(top, None)
                    raise
    importlib.import_module(name)


def _check_trusted(top: str, found, folder: Path | None) -> None:
    """Refuse to run a plugin's code that someone else may have written: its file or package, every file under
    the package, and the folder it is found in (`folder`, else the one that holds it). Code in the interpreter's
    own library folders (the standard library, site-packages) is the environment's, and is not judged here."""
    from record.folder import untrusted_reason

    if found.submodule_search_locations:  # a package (a namespace package may span folders: each is judged)
        codes = [Path(p) for p in found.submodule_search_locations]
    elif found.origin and found.has_location:
        codes = [Path(found.origin)]
    else:  # built into the interpreter
        return
    for code in codes:
        if folder is None and _installed(code):
            continue
        for place in (folder or code.parent, code, *_package_files(code)):
            why = untrusted_reason(place, follow=True)
            if why:
                raise PluginError(f"`{top}` would be imported from {place}, but {why}: code there may be "
                                  "anyone's. Take it over (chown it, chmod go-w) or install the plugin.")


def _installed(code: Path) -> bool:
    """`code` lies in one of the interpreter's library folders: the standard library, and every folder packages are
    installed into (site-packages, the user's, a distribution's dist-packages on the import path)."""
    import site
    import sysconfig

    roots = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages() + [site.getusersitepackages()])
    roots.update(p for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))
    resolved = code.resolve()
    return any(root and resolved.is_relative_to(Path(root).resolve()) for root in roots)


def _package_files(folder: Path, limit: int = 10_000):
    """Every file and folder under a plugin package's folder (what its imports may run), up to `limit`."""
    if not folder.is_dir():
        return
    for n, path in enumerate(folder.rglob("*")):
        if n >= limit or "__pycache__" in path.parts:
            continue
        yield path
