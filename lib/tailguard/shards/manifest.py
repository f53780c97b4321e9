"""`manifest.json` of a shard set: what is in it, where it came from, and how it compares
with an unweighted sample of the same pool at the same budget.

Everything here is a pure function of numbers the job measured, so the manifest is as
deterministic as the shards: no wall-clock time, no host, no path, no run id; floats
rounded to a fixed number of digits; keys in a fixed order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tailguard.config import Config

DIGITS = 6
# Keys that say where or how fast a run happened, not what it computed.
RUN_ONLY_PREFIXES = ("spark.", "input.path", "output.root", "detector.dir")


def config_hash(cfg: Config) -> str:
    """sha256 of every config value that can change the shards (Spark settings and paths
    excluded: the same inputs and config on another cluster give the same shards)."""
    flat = {k: v for k, v in cfg.as_flat_dict().items()
            if not k.startswith(RUN_ONLY_PREFIXES)}
    canonical = json.dumps(flat, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DIGITS)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def sample_summary(tokens: int, docs: int, covered: int, tail_size: int,
                   distinct: list[float]) -> dict:
    """Tail coverage and distinct-n (n = 1..4, HLL estimates) of one sample."""
    return {"docs": docs, "tokens": tokens, "tail_covered": covered,
            "tail_coverage": ratio(covered, tail_size),
            "distinct_n": {str(n + 1): round(d) for n, d in enumerate(distinct)},
            "distinct_ratio_n": {str(n + 1): ratio(d, max(tokens - n * docs, 0))
                                 for n, d in enumerate(distinct)}}


def comparison(shards: dict, unweighted: dict) -> dict:
    """Shards over the unweighted sample: > 1 means the enrichment kept more."""
    return {"tail_coverage_gain": ratio(shards["tail_covered"], unweighted["tail_covered"]),
            "distinct_n_gain": {n: ratio(shards["distinct_n"][n], unweighted["distinct_n"][n])
                                for n in shards["distinct_n"]}}


def render(manifest: dict) -> bytes:
    """The manifest's bytes: indented JSON, keys in insertion order, floats rounded."""
    return (json.dumps(_round(manifest), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
