"""Module paths of earlier releases that moved, kept importable with a FutureWarning until berthub 0.3.

    import berthub.registry                    # FutureWarning: berthub.registry moved to berthub.sources.registry
    from berthub.heads import HeadFacts        # still works, and says where the name lives now

`install()` (called by berthub/__init__.py) adds a finder at the end of `sys.meta_path` that answers only
for the old paths of `MOVED`, after every real module has had its turn. An old path with one new home
*is* that module (the same object, so patching or isinstance through either path agrees); one whose
names were split over several modules (or renamed) is a read-only view that looks each name up in them
in order.
CHANGELOG.md lists the same moves for people updating their imports.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

MOVED: dict[str, tuple[str, ...]] = {
    # berthub 0.1.0
    "berthub.archives": ("berthub.sources.archives",),
    "berthub.config": ("berthub.model.config", "berthub.files"),
    "berthub.download": ("berthub.sources.urls", "berthub.sources.settings"),
    "berthub.export": ("berthub.inference.onnx",),
    "berthub.heads": ("berthub.model.heads", "berthub.plugins.head_contract"),
    "berthub.hub": ("berthub.sources.resolve", "berthub.sources.settings"),
    "berthub.integrity": ("berthub.sources.integrity", "berthub.files"),
    "berthub.labels": ("berthub.model.labels",),
    "berthub.pipelines": ("berthub.inference.pipelines",),
    "berthub.pretrained": ("berthub.model.pretrained", "berthub.model.weights"),
    "berthub.publish": ("berthub.sources.publish", "berthub.sources.settings"),
    "berthub.registry": ("berthub.sources.registry", "berthub.plugins.model_entry"),
    "berthub.spans": ("berthub.tasks.spans",),
    "berthub.task_models": ("berthub.model.task_models",),
    "berthub.trainer": ("berthub.training.trainer", "berthub.training"),
    "berthub.vocab_resize": ("berthub.model.vocab_resize",),
    # added after 0.1.0, before 0.2.0
    "berthub.batch": ("berthub.tasks.batch",),
    "berthub.fused_linear": ("berthub.model.fused_linear",),
    "berthub.fused_qkv": ("berthub.model.fused_qkv",),
    "berthub.head_contract": ("berthub.plugins.head_contract",),
    "berthub.weights": ("berthub.model.weights",),
}
# Names that changed as well as moved: old path -> {old name: its name in the new homes}.
RENAMED: dict[str, dict[str, str]] = {
    "berthub.export": {"output_names": "graph_outputs"},
    "berthub.publish": {"PUBLIC_ENDPOINT": "DEFAULT_ENDPOINT", "resolve_endpoint": "hub_endpoint",
                        "resolve_token": "hub_token"},
}
REMOVED_IN = "0.3"


class _SplitModule(types.ModuleType):
    """An old module path whose names now live in several modules: each lookup tries them in order."""

    def __init__(self, name: str, homes: tuple[str, ...]) -> None:
        super().__init__(name, f"Moved: import from {', '.join(homes)} instead.")
        self.__homes = [importlib.import_module(home) for home in homes]
        self.__renamed = RENAMED.get(name, {})

    def __getattr__(self, attribute: str) -> object:
        wanted = self.__renamed.get(attribute, attribute)
        for home in self.__homes:
            if hasattr(home, wanted):
                return getattr(home, wanted)
        raise AttributeError(f"{self.__name__}.{attribute} is gone; see CHANGELOG.md for what replaces it.")

    def __dir__(self) -> list[str]:
        return sorted({name for home in self.__homes for name in dir(home)} | set(self.__renamed))


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}  # old path -> the module's own spec

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        return importlib.machinery.ModuleSpec(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        homes = MOVED[spec.name]  # stacklevel 2 names the importing line: warnings skips importlib's frames
        warnings.warn(f"{spec.name} moved to {homes[0]}; import from there (the old path goes in berthub "
                      f"{REMOVED_IN}; CHANGELOG.md lists every move).", FutureWarning, stacklevel=2)
        split = len(homes) > 1 or spec.name in RENAMED
        module = _SplitModule(spec.name, homes) if split else importlib.import_module(homes[0])
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module was complete when create_module returned it. importlib has just set its
        __spec__ to the old path's; a module that lives on under its new name gets its own back."""
        own = self._specs.pop(module.__spec__.name)
        if own is not None:
            module.__spec__ = own


def install() -> None:
    """Answer the old paths of MOVED (once per process)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.append(_Finder())
