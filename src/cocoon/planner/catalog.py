"""Model and GPU catalogs: the data files in ``cocoon/planner/data`` as frozen structs, with lookups.

Names are matched loosely (case, punctuation, an organisation prefix and an ``@revision`` suffix are
ignored), so ``Qwen/Qwen3-8B``, ``qwen3:8b`` and ``Qwen3-8B@main:sha256-...`` all find Qwen3-8B. An
unknown name raises :class:`~cocoon.errors.CatalogLookupError` naming the closest entries.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TypeVar

import msgspec

from cocoon.errors import CatalogLookupError

_T = TypeVar("_T")

GB = 10**9  # catalog sizes are decimal gigabytes, as vendors market them


class Quantization(msgspec.Struct, frozen=True, kw_only=True):
    """A weight format and its average storage cost."""

    name: str
    bits_per_weight: float
    about: str

    def weight_bytes(self, params: int) -> int:
        """Bytes needed to hold ``params`` weights in this format (rounded up)."""
        return -(-int(params * self.bits_per_weight) // 8)


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Architecture facts of one model (see models.json for their sources)."""

    name: str
    family: str
    aliases: tuple[str, ...]
    total_params: int
    active_params: int
    layers: int
    kv_heads: int
    head_dim: int
    kv_latent_dim: int | None
    max_context: int
    native_quant: str
    quantizations: tuple[str, ...]
    sources: tuple[str, ...]

    @property
    def is_moe(self) -> bool:
        """True when a decoded token reads fewer parameters than the model holds."""
        return self.active_params < self.total_params

    @property
    def kv_elements_per_token(self) -> int:
        """Cached K/V elements per token over all layers: MLA latent, else 2 * kv_heads * head_dim."""
        per_layer = (
            self.kv_latent_dim if self.kv_latent_dim is not None else 2 * self.kv_heads * self.head_dim
        )
        return self.layers * per_layer


class GpuSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Datasheet facts of one GPU (see gpus.json for their sources)."""

    name: str
    aliases: tuple[str, ...]
    architecture: str
    vram_gb: float
    bandwidth_gbps: float
    bf16_tflops: float
    confidential: bool
    sources: tuple[str, ...]


class _ModelFile(msgspec.Struct, frozen=True):
    quantizations: dict[str, dict[str, float | str]]
    models: tuple[ModelSpec, ...]


class _GpuFile(msgspec.Struct, frozen=True):
    gpus: tuple[GpuSpec, ...]


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    """All models, GPUs and quantizations the planner knows."""

    models: tuple[ModelSpec, ...]
    gpus: tuple[GpuSpec, ...]
    quantizations: tuple[Quantization, ...]

    def model(self, name: str) -> ModelSpec:
        """The model called ``name`` (or one of its aliases); CatalogLookupError with suggestions if none."""
        return _lookup("model", name, [(m.name, m.aliases, m) for m in self.models], "cocoon plan models")

    def gpu(self, name: str) -> GpuSpec:
        """The GPU called ``name`` (or one of its aliases); CatalogLookupError with suggestions if none."""
        return _lookup("GPU", name, [(g.name, g.aliases, g) for g in self.gpus], "cocoon plan gpus")

    def quantization(self, name: str, model: ModelSpec | None = None) -> Quantization:
        """The quantization ``name``; if ``model`` is given it must list it as available."""
        allowed = model.quantizations if model is not None else tuple(q.name for q in self.quantizations)
        by_key = {_key(q.name): q for q in self.quantizations if q.name in allowed}
        found = by_key.get(_key(name))
        if found is None:
            owner = f" for {model.name}" if model is not None else ""
            raise CatalogLookupError(
                f"unknown quantization {name!r}{owner}; choose one of {', '.join(allowed)}"
            )
        return found


def _key(name: str) -> str:
    """Normalise a name: drop an @revision suffix and an org/ prefix, keep lowercase letters and digits."""
    base = name.split("@", 1)[0].rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", base.lower())


def _lookup(kind: str, name: str, entries: Sequence[tuple[str, tuple[str, ...], _T]], listing: str) -> _T:
    index: dict[str, tuple[str, _T]] = {}
    for canonical, aliases, value in entries:
        for label in (canonical, *aliases):
            index.setdefault(_key(label), (canonical, value))
    hit = index.get(_key(name))
    if hit is not None:
        return hit[1]
    close = difflib.get_close_matches(_key(name), list(index), n=3, cutoff=0.5)
    names = list(dict.fromkeys(index[k][0] for k in close))
    hint = f"did you mean {_either(names)}? " if names else ""
    raise CatalogLookupError(f"unknown {kind} {name!r}; {hint}`{listing}` lists them all")


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


@cache
def load_catalog() -> Catalog:
    """Read the packaged catalogs once; the data files are validated against the structs above."""
    data = resources.files("cocoon.planner") / "data"
    model_file = msgspec.json.decode((data / "models.json").read_bytes(), type=_ModelFile)
    gpu_file = msgspec.json.decode((data / "gpus.json").read_bytes(), type=_GpuFile)
    quants = tuple(
        Quantization(name=name, bits_per_weight=float(raw["bits_per_weight"]), about=str(raw["about"]))
        for name, raw in model_file.quantizations.items()
    )
    return Catalog(models=model_file.models, gpus=gpu_file.gpus, quantizations=quants)
