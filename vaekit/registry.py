"""Name -> class registries for models, likelihoods, priors, networks and data sets.

Components register themselves with a decorator and are built by lookup, so adding a family never
touches an if/elif chain. An entry may carry the frozen config dataclass its constructor reads;
`vaekit.config` uses it to parse and type-check that component's section of a YAML file.

This module imports no component: a registry holds what the modules imported so far have
registered. `vaekit.components` imports every built-in one (so do `import vaekit` and
`vaekit.config`); the samplers register with `vaekit.sample.samplers`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from vaekit.errors import ConfigError

T = TypeVar("T")


def suggest(name: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or the list of choices when none is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (choose one of: {', '.join(sorted(choices))})" if choices else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    config: type | None


class Registry(Generic[T]):
    """A named collection of components of one kind ('model', 'likelihood', ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, config: type | None = None) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("vae", config=VAEConfig)`."""

        def add(obj: T) -> T:
            if name in self._entries and self._entries[name].obj is not obj:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = Entry(name, obj, config)
            return obj

        return add

    def entry(self, name: str) -> Entry[T]:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} '{name}'{suggest(name, self.names())}")
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def config_class(self, name: str) -> type | None:
        return self.entry(name).config

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def build(self, config: Any, *args: Any, **kwargs: Any) -> Any:
        """Build the component that `config.name` names, passing it its own config."""
        return self.get(config.name)(config, *args, **kwargs)


MODELS: Registry[type] = Registry("model")
LIKELIHOODS: Registry[type] = Registry("likelihood")
PRIORS: Registry[type] = Registry("prior")
NETWORKS: Registry[type] = Registry("network")
DATASETS: Registry[Callable[..., Any]] = Registry("dataset")
SAMPLERS: Registry[type] = Registry("sampler")
