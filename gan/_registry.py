"""A name -> object registry, one per extension kind (datasets, architectures, losses, ...), and `Lazy`, the entry
of a built-in whose implementation is imported on first use (gan.builtins): checking a config reads the facts a
built-in declares, never its module, so refusing a bad spec never imports torch."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Lazy:
    """Stands for the object at `target` ("package.module:name"), imported when first loaded. `facts`
    are its attributes a config is checked against (an architecture's `check`, a loss's `double_backward`), read
    without importing it; any other attribute is absent, as on an object that lacks it."""

    def __init__(self, target: str, **facts: Any):
        self.target = target
        self._facts = facts
        self._loaded: Any = None

    def load(self) -> Any:
        if self._loaded is None:
            module, _, name = self.target.partition(":")
            self._loaded = getattr(importlib.import_module(module), name)
        return self._loaded

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_facts"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def facts(self) -> dict[str, Any]:
        return dict(self._facts)

    def __repr__(self) -> str:
        return f"Lazy({self.target!r})"


class Registry(Generic[T]):
    """Maps names used in configs to implementations; rejects duplicates and unknown names. `get` gives an entry
    as registered (for a built-in, its `Lazy` declaration: the facts a config is checked against); `load` gives the
    implementation to run."""

    def __init__(self, kind: str):
        self.kind = kind  # what is registered, used in error messages ("architecture", "loss", ...)
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"The {self.kind} `{name}` is already registered.")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"Unknown {self.kind} `{name}`; valid names: {', '.join(self.names())}."
            ) from None

    def load(self, name: str) -> T:
        """The implementation registered under `name`, a built-in's imported now (`get` gives its declaration)."""
        entry = self.get(name)
        return entry.load() if isinstance(entry, Lazy) else entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DATASETS: Registry = Registry("dataset")
ARCHITECTURES: Registry = Registry("architecture")
LOSSES: Registry = Registry("loss")
LABEL_ENCODINGS: Registry = Registry("label encoding")


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> tuple[Callable, Callable, list[str]]:
    """A package's `__getattr__`, `__dir__` (PEP 562) and `__all__` for the names each module exports (module:
    names): a name's module is imported when the name is first read, so importing one light submodule does not
    import the heavy ones. A name exported from the submodule of the same name (`gan.train`'s `train`) stays the
    export once that submodule is imported, as an eager `from gan.train import train` in the package would."""
    exports = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    class _Package(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if isinstance(value, types.ModuleType) and exports.get(name) == value.__name__ == f"{package}.{name}":
                value = getattr(value, name)  # the import system binding the submodule: keep the export
            super().__setattr__(name, value)

    sys.modules[package].__class__ = _Package
    return __getattr__, __dir__, sorted(exports)
