"""A name -> object registry, one per extension kind (datasets, architectures, losses, ...)."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names used in configs to implementations; rejects duplicates and unknown names."""

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
