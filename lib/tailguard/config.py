"""One configuration object, built once per job from YAML files and `--set` overrides.

The packaged `resources/default.yaml` is the single source of keys, defaults and types:
an override may only name a key that exists there and must keep its type. This catches the
classic scheduled-job failure (a typo'd key silently ignored) at start-up, with a message
that names the key and the nearest valid one.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tailguard import paths
from tailguard.errors import ConfigError

# Maps whose keys are not validated (passed through to another system verbatim).
FREE_FORM_MAPS = frozenset({"spark.conf"})
# Estimators computed from bootstrap sums (share.py), and every estimator of the share job.
SUM_ESTIMATORS = ("cc", "pcc", "acc", "mle")
ESTIMATORS = (*SUM_ESTIMATORS, "pu")
# input.layout values (io/layouts.py; kept here so config has no Spark-side import)
INPUT_LAYOUTS = ("auto", "dated", "commoncrawl", "column")


def default_values() -> dict[str, Any]:
    """The packaged defaults, parsed fresh each call (callers may mutate the result)."""
    text = resources.files("tailguard").joinpath("resources/default.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in FREE_FORM_MAPS:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _nearest(key: str, candidates: Iterable[str]) -> str:
    match = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _type_name(value: Any) -> str:
    return type(value).__name__


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of `default`; allow the safe widenings only."""
    if default is None:  # nullable key: any value
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, dt.date):
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        if isinstance(value, list):
            return value
        if isinstance(value, str):  # --set k=a,b
            return [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(default, Mapping):
        if isinstance(value, Mapping):
            return dict(value)
    raise ConfigError(
        f"config key '{key}' must be {_type_name(default)} (like {default!r}), "
        f"got {_type_name(value)} {value!r}"
    )


def _merge(flat: dict[str, Any], override: Mapping[str, Any], origin: str) -> None:
    for key, value in _flatten(override).items():
        if key not in flat:
            free_parent = next((m for m in FREE_FORM_MAPS if key.startswith(m + ".")), None)
            if free_parent:
                flat[free_parent] = {**flat[free_parent], key[len(free_parent) + 1 :]: value}
                continue
            raise ConfigError(f"unknown config key '{key}' in {origin}{_nearest(key, flat)}")
        if key in FREE_FORM_MAPS:
            flat[key] = {**flat[key], **_coerce(key, value, flat[key])}
        else:
            flat[key] = _coerce(key, value, flat[key])


def _read_yaml(path: str) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}{where} is not valid YAML") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {data!r:.40}")
    return data


def _parse_set(assignment: str) -> dict[str, Any]:
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value, got '{assignment}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    # spark.conf.<any.dotted.spark.key> keeps its dots inside the free-form map
    if parts[:2] == ["spark", "conf"] and len(parts) > 2:
        parts = ["spark", "conf", ".".join(parts[2:])]
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def _validate(flat: Mapping[str, Any]) -> None:
    """Semantic checks the type system cannot express, with explicit messages."""

    def require(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"config key '{key}' {what}, got {flat[key]!r}")

    for key in ("ingest.max_chars", "ingest.raw_prefix_bytes", "ingest.batch_bytes",
                "dedup.shingle_size", "dedup.num_perm", "share.bootstrap",
                "dedup.max_bucket_size", "dedup.max_iterations", "diversity.homogenization_sample",
                "diversity.compression_chunk_bytes", "tail.min_count", "tail.max_n", "sample.docs",
                "sample.domains", "sample.detector_docs", "sample.top_k", "sample.temperature",
                "detector.epoch", "detector.dim", "detector.threads", "share.min_docs",
                "output.date_buckets"):
        require(flat[key] > 0, key, "must be positive")
    for key in ("dedup.threshold", "tail.quantile", "detector.valid_fraction",
                "detector.target_fpr", "sample.recrawl_rate"):
        require(0.0 < flat[key] < 1.0, key, "must lie strictly between 0 and 1")
    require(4 <= flat["diversity.hll_precision"] <= 16, "diversity.hll_precision",
            "must be between 4 and 16 (datasketch's HyperLogLog++ bias tables)")
    require(1 <= flat["diversity.compression_level"] <= 22, "diversity.compression_level",
            "must be a zstd level between 1 and 22")
    require(flat["diversity.partition_mb"] > 0, "diversity.partition_mb",
            "must be a positive number of MB")
    require(flat["dedup.scheme"] in ("affine32", "legacy"), "dedup.scheme",
            "must be 'affine32' or 'legacy'")
    require(flat["dedup.boilerplate_scope"] in ("domain", "domain+global", "global", "none"),
            "dedup.boilerplate_scope", "must be 'domain', 'domain+global', 'global' or 'none'")
    require(flat["dedup.boilerplate_global_max_words"] >= 1,
            "dedup.boilerplate_global_max_words", "must be at least 1")
    require(flat["dedup.boilerplate_small_site_max_words"] >= 0,
            "dedup.boilerplate_small_site_max_words", "must be 0 (off) or a number of words")
    require(flat["dedup.components_driver_max_edges"] >= 0, "dedup.components_driver_max_edges",
            "must be 0 (always distributed) or a positive number of edges")
    require(flat["share.refit_growth"] >= 0, "share.refit_growth",
            "must be a fraction >= 0 (0: refit whenever documents were added)")
    require(flat["dedup.boilerplate_min_repeats"] >= 2, "dedup.boilerplate_min_repeats",
            "must be at least 2 (a line on one page is that page's own text)")
    require(abs(flat["dedup.false_positive_weight"] + flat["dedup.false_negative_weight"] - 1)
            < 1e-9, "dedup.false_positive_weight", "plus dedup.false_negative_weight must be 1")
    require(bool(flat["ingest.url_schemes"])
            and all(isinstance(s, str) and s for s in flat["ingest.url_schemes"]),
            "ingest.url_schemes", "must be a non-empty list of URL schemes")
    require(flat["tail.max_n"] <= 4, "tail.max_n",
            "must be at most 4 (the diversity kernel keeps n-grams up to n = 4)")
    for key in ("ingest.max_line_bytes", "ingest.max_record_bytes", "ingest.max_file_bytes"):
        require(flat[key] > 0, key, "must be a positive number of bytes")
    require(flat["input.layout"] in INPUT_LAYOUTS, "input.layout",
            f"must be one of {', '.join(INPUT_LAYOUTS)}")
    require(bool(flat["input.date_field"].strip()), "input.date_field",
            "must name the field holding each record's date")
    require(flat["share.primary"] in ESTIMATORS, "share.primary", f"must be one of {ESTIMATORS}")
    for key in ("detector.bucket", "share.mle_min_df", "share.mle_vocab_size",
                "share.min_reference_docs", "share.mle_prior_docs"):
        require(flat[key] > 0, key, "must be positive")
    require(isinstance(flat["share.pu_folds"], int) and flat["share.pu_folds"] >= 2,
            "share.pu_folds", "must be an integer >= 2 (cross-fitting needs another fold)")
    for key in ("share.pu_c", "share.pu_features", "share.pu_max_iter",
                "share.pu_placebo_months", "share.pu_grid_points", "share.pu_max_train_docs",
                "share.pu_reference_prior_docs"):
        require(flat[key] > 0, key, "must be positive")
    require(isinstance(flat["share.pu_fit_bins"], int) and flat["share.pu_fit_bins"] >= 2,
            "share.pu_fit_bins", "must be an integer >= 2")
    require(flat["share.mle_grid_points"] >= 3, "share.mle_grid_points", "must be at least 3")
    require(0.0 <= flat["share.mle_min_domain_fraction"] <= 1.0,
            "share.mle_min_domain_fraction", "must lie between 0 and 1")
    require(flat["detector.calibration"] in ("isotonic", "platt"), "detector.calibration",
            "must be 'isotonic' or 'platt'")
    require(all(isinstance(b, int) and b > 0 for b in flat["diversity.token_budgets"]),
            "diversity.token_budgets", "must be a list of positive integers")
    require(isinstance(flat["diversity.replicates"], int) and flat["diversity.replicates"] >= 0,
            "diversity.replicates", "must be a non-negative integer (0 or 1: no intervals)")
    require(isinstance(flat["diversity.replicate_max_budget"], int)
            and flat["diversity.replicate_max_budget"] >= 0, "diversity.replicate_max_budget",
            "must be a non-negative integer (0: no intervals)")
    require(isinstance(flat["diversity.replicate_min_budget"], int)
            and flat["diversity.replicate_min_budget"] >= 0, "diversity.replicate_min_budget",
            "must be a non-negative integer (0: halvings of the floor down to 1 token)")
    _validate_shards(flat, require)


def _validate_shards(flat: Mapping[str, Any], require) -> None:
    require(flat["shards.token_budget"] >= 0, "shards.token_budget",
            "must be 0 (as large as the anchor allows) or a positive number of tokens")
    for key in ("shards.anchor_ratio", "shards.max_p_synthetic", "shards.max_domain_share",
                "shards.min_human_p"):
        require(0.0 <= flat[key] <= 1.0, key, "must lie between 0 and 1")
    require(flat["shards.max_weight"] >= 1.0, "shards.max_weight", "must be at least 1")
    for key in ("shards.target_mb", "shards.row_group_mb", "shards.broadcast_mb"):
        require(flat[key] > 0, key, "must be positive")
    require(1 <= flat["shards.compression_level"] <= 22, "shards.compression_level",
            "must be a zstd level between 1 and 22")
    for key, size in (("shards.quality.max_top_ngram_chars", 3),
                      ("shards.quality.max_dup_ngram_chars", 6)):
        require(len(flat[key]) == size and all(isinstance(v, int | float) and 0 <= v <= 1
                                               for v in flat[key]),
                key, f"must be a list of {size} fractions between 0 and 1")


class Section(Mapping[str, Any]):
    """Read-only attribute view of one config section: `cfg.ingest.max_chars`."""

    def __init__(self, path: str, values: Mapping[str, Any]):
        self._path = path
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(
                f"no config key '{self._path}.{name}'{_nearest(name, self._values)}"
            ) from None
        full = f"{self._path}.{name}"
        if isinstance(value, Mapping) and full not in FREE_FORM_MAPS:
            return Section(full, value)
        return copy.deepcopy(value)

    def __getitem__(self, name: str) -> Any:
        return self.__getattr__(name)

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Config(Section):
    """The validated configuration of one run. Immutable: derive a new one with `with_overrides`."""

    def __init__(self, flat: Mapping[str, Any]):
        self._flat = dict(flat)
        tree: dict[str, Any] = {}
        for key, value in self._flat.items():
            node = tree
            parts = key.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        super().__init__("", tree)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._values:
            raise AttributeError(f"no config section '{name}'{_nearest(name, self._values)}")
        return Section(name, self._values[name])

    def get(self, dotted: str, default: Any = None) -> Any:  # noqa: D401 - Mapping API
        """Value of a dotted key, e.g. `cfg.get("eras.cutoff")`."""
        return copy.deepcopy(self._flat.get(dotted, default))

    def as_flat_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._flat)

    def with_overrides(self, *assignments: str) -> Config:
        flat = self.as_flat_dict()
        for assignment in assignments:
            _merge(flat, _parse_set(assignment), f"--set {assignment}")
        _validate(flat)
        return Config(flat)

    def fingerprint(self) -> str:
        """Stable hash of every value: names outputs and goes into manifests."""
        canonical = json.dumps(self._flat, sort_keys=True, default=str, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def detector_dir(self) -> str:
        """detector.dir, or `<output.root>/detector`: a local path or a Hadoop URI."""
        return self._flat["detector.dir"] or paths.join(self._flat["output.root"], "detector")

    def table_path(self, name: str) -> str:
        """Path of a table under output.root, e.g. `table_path("metrics/diversity")`.

        String joins (tailguard.paths), never pathlib: `s3a://b/x` must stay a URI."""
        return paths.join(self._flat["output.root"], name)


def load_config(conf_files: Iterable[str] = (), sets: Iterable[str] = ()) -> Config:
    """Defaults, then each file in order, then each `key=value`; validated once at the end."""
    flat = _flatten(default_values())
    for path in conf_files:
        _merge(flat, _read_yaml(path), path)
    for assignment in sets:
        _merge(flat, _parse_set(assignment), f"--set {assignment}")
    _validate(flat)
    return Config(flat)
