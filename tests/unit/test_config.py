import datetime as dt
import os

import pytest

from tailguard.config import load_config
from tailguard.errors import ConfigError


def test_defaults_load_and_expose_sections():
    cfg = load_config()
    assert cfg.eras.cutoff == dt.date(2022, 11, 30)
    assert cfg.ingest.max_chars == 1_000_000
    assert cfg.get("dedup.threshold") == 0.8


def test_later_files_override_earlier_and_set_overrides_all(tmp_path):
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text("ingest:\n  max_chars: 10\noutput:\n  root: /a\n")
    second.write_text("ingest:\n  max_chars: 20\n")
    cfg = load_config([str(first), str(second)], ["output.root=/c"])
    assert cfg.ingest.max_chars == 20
    assert cfg.output.root == "/c"


def test_unknown_key_names_the_nearest_valid_one(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("ingest:\n  max_char: 10\n")
    with pytest.raises(ConfigError, match=r"ingest\.max_char'.*did you mean 'ingest\.max_chars'"):
        load_config([str(conf)])


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match="ingest.max_chars' must be int"):
        load_config(sets=["ingest.max_chars=lots"])
    with pytest.raises(ConfigError, match="eras.cutoff' must be date"):
        load_config(sets=["eras.cutoff=yesterday"])


def test_set_parses_yaml_scalars_and_int_widens_to_float():
    cfg = load_config(sets=["dedup.threshold=0.7", "eras.cutoff=2023-01-01", "tail.quantile=0.25"])
    assert cfg.dedup.threshold == 0.7
    assert cfg.eras.cutoff == dt.date(2023, 1, 1)
    assert cfg.tail.quantile == 0.25


def test_semantic_checks_reject_out_of_range_values():
    with pytest.raises(ConfigError, match="dedup.threshold' must lie strictly between 0 and 1"):
        load_config(sets=["dedup.threshold=1.5"])
    with pytest.raises(ConfigError, match="share.primary' must be one of"):
        load_config(sets=["share.primary=magic"])


def test_spark_conf_is_free_form_and_keeps_dotted_keys():
    cfg = load_config(sets=["spark.conf.spark.executor.memory=8g"])
    assert cfg.spark.conf["spark.executor.memory"] == "8g"
    assert cfg.spark.conf["spark.sql.session.timeZone"] == "UTC"  # defaults kept


def test_unreadable_or_invalid_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config([str(tmp_path / "missing.yaml")])
    broken = tmp_path / "broken.yaml"
    broken.write_text("ingest: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config([str(broken)])
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config([str(scalar)])


def test_fingerprint_is_stable_and_changes_with_values():
    """The same values give the same fingerprint whatever the order they were set in and
    in another process (another string-hash seed); any changed value changes it."""
    import subprocess
    import sys

    sets = ["dedup.seed=2", "share.bootstrap=50"]
    here = load_config(sets=list(reversed(sets))).fingerprint()
    code = ("from tailguard.config import load_config; "
            f"print(load_config(sets={sets!r}).fingerprint())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert there.stdout.strip() == here
    assert load_config(sets=["dedup.seed=2"]).fingerprint() != here
    assert load_config(sets=["share.bootstrap=50"]).fingerprint() != here
    default_seed = load_config().get("dedup.seed")
    assert (load_config(sets=[f"dedup.seed={default_seed}"]).fingerprint()
            == load_config().fingerprint())


def test_config_is_read_only_view():
    cfg = load_config()
    conf_map = cfg.spark.conf
    conf_map["spark.x"] = "y"
    assert "spark.x" not in cfg.spark.conf
    with pytest.raises(AttributeError, match="no config key 'ingest.nope'"):
        _ = cfg.ingest.nope


def test_repo_conf_files_are_valid():
    """Each repo conf file loads, and every value it sets is the value the config reads."""
    import yaml

    def leaves(tree, prefix=""):
        for key, value in tree.items():
            if isinstance(value, dict) and f"{prefix}{key}" != "spark.conf":
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value

    for name in ("conf/default.yaml", "conf/local.yaml", "conf/cluster.yaml", "conf/demo.yaml"):
        cfg = load_config([name])
        values = dict(leaves(yaml.safe_load(open(name, encoding="utf-8")) or {}))
        assert values, name
        for key, value in values.items():
            if isinstance(value, dict):  # a Spark conf map: every entry passed through
                assert all(cfg.get(key)[k] == v for k, v in value.items()), (name, key)
            else:
                assert cfg.get(key) == value, (name, key)


def test_every_default_key_has_a_comment():
    """default.yaml documents every key: each leaf `key: value` line carries a comment."""
    from importlib import resources

    text = resources.files("tailguard").joinpath("resources/default.yaml").read_text()
    undocumented = []
    in_free_map = False
    for line in text.splitlines():
        stripped = line.split("#")[0].rstrip()
        if not stripped.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if in_free_map and indent <= 2:
            in_free_map = False
        if stripped.strip() == "conf:":
            in_free_map = True
            continue
        key, _, value = stripped.strip().partition(":")
        if value.strip() and not in_free_map and "#" not in line:
            undocumented.append(key)
    assert not undocumented, f"keys without a comment in default.yaml: {undocumented}"
