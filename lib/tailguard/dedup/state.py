"""The provenance state describes itself: the dedup parameters its tables were built with.

Why: an incremental `--dates` run matches its new partitions against the stored bands and
edges of all the others. If the shingle size, permutations, banding or boilerplate rule
changed in between, the new band hashes can never meet the old ones and the run would
silently mix two incompatible bandings (datatrove names a MinHash output folder by its
config for the same reason). So the `dedup_params` table records every parameter that
shapes `signatures`, `lsh_bands`, `lsh_edges`, `line_index` and `boilerplate`, and a
`--dates` run whose config disagrees stops with one line naming the parameter.

A full run rebuilds the state whatever it holds: it drops the record first and writes
the new one last, so a full run that dies half-way leaves state that a `--dates` run
refuses ("no recorded parameters") rather than trusts.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from tailguard.config import Config
from tailguard.dedup.boilerplate import BY_DOMAIN
from tailguard.dedup.lsh import LshSpec
from tailguard.dedup.minhash import FINGERPRINT_VERSION
from tailguard.errors import TailguardError
from tailguard.io.tables import _fs_and_path, read_table, table_exists, write_table
from tailguard.schema import DEDUP_PARAMS, PROVENANCE_STATE

TABLE = "dedup_params"


class StateMismatch(TailguardError):
    """The stored provenance state was built with other dedup parameters."""


def dedup_params(cfg: Config, spec: LshSpec) -> dict[str, str]:
    """Every parameter the provenance state depends on, as strings, keyed by config key
    (`lsh.bands_x_rows` is derived from dedup.threshold and the two error weights)."""
    dedup = cfg.dedup
    scope = dedup.boilerplate_scope
    return {
        "dedup.shingle_size": str(dedup.shingle_size),
        "dedup.num_perm": str(dedup.num_perm),
        "dedup.seed": str(dedup.seed),
        "dedup.scheme": dedup.scheme,
        "dedup.threshold": repr(float(dedup.threshold)),
        "lsh.bands_x_rows": f"{spec.bands}x{spec.rows}",
        "dedup.max_bucket_size": str(dedup.max_bucket_size),
        "dedup.boilerplate_scope": scope,
        "dedup.boilerplate_min_repeats": (str(dedup.boilerplate_min_repeats)
                                          if scope != "none" else "-"),
        "dedup.boilerplate_global_max_words": (str(dedup.boilerplate_global_max_words)
                                               if scope == "domain+global" else "-"),
        "dedup.boilerplate_small_site_max_words": (
            str(dedup.boilerplate_small_site_max_words)
            if scope in BY_DOMAIN else "-"),
        "fingerprint": FINGERPRINT_VERSION,
    }


_HINTS = {
    "lsh.bands_x_rows": " (from dedup.threshold, dedup.false_positive_weight and "
                        "dedup.false_negative_weight)",
    "fingerprint": " (the MinHash definition of this tailguard version)",
}


def stored_params(spark: SparkSession, cfg: Config) -> dict[str, str] | None:
    if not table_exists(spark, cfg, TABLE):
        return None
    return {r.parameter: r.value for r in read_table(spark, cfg, TABLE).collect()}


def _has_state(spark: SparkSession, cfg: Config) -> bool:
    return any(table_exists(spark, cfg, name) for name in PROVENANCE_STATE if name != TABLE)


def mismatch(stored: dict[str, str] | None, expected: dict[str, str],
             state_exists: bool, where: str) -> str | None:
    """The one-line reason a `--dates` run must not use the stored state, or None."""
    rebuild = "run `tailguard provenance` without --dates to rebuild it"
    if stored is None:
        if not state_exists:
            return None
        return (f"provenance state under {where} has no recorded dedup parameters "
                f"(written by an older tailguard or an interrupted full run): {rebuild}")
    for key, value in expected.items():
        if stored.get(key) != value:
            was = stored.get(key, "(not recorded)")
            return (f"provenance state under {where} was built with {key}={was}, the config "
                    f"gives {key}={value}{_HINTS.get(key, '')}: {rebuild}, or set it back")
    return None


def check_incremental(spark: SparkSession, cfg: Config, spec: LshSpec) -> bool:
    """Raise StateMismatch when the stored state disagrees with the config; return whether
    the parameters still need recording (a first `--dates` run on an empty root)."""
    stored = stored_params(spark, cfg)
    reason = mismatch(stored, dedup_params(cfg, spec), _has_state(spark, cfg),
                      cfg.get("output.root"))
    if reason:
        raise StateMismatch(reason)
    return stored is None


def forget(spark: SparkSession, cfg: Config) -> None:
    """Drop the record (a full run is about to rewrite the state)."""
    fs, path, _ = _fs_and_path(spark, cfg.table_path(TABLE))
    if fs.exists(path):
        fs.delete(path, True)


def record(spark: SparkSession, cfg: Config, spec: LshSpec) -> None:
    """Write the record of the state just built (atomically, like every table)."""
    rows = sorted(dedup_params(cfg, spec).items())
    write_table(spark.createDataFrame(rows, DEDUP_PARAMS).coalesce(1), cfg, TABLE)
