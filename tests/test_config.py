"""Typed `--set` overrides on locked configs."""
import pytest

from jaxnets import config as config_lib


def _config():
    return config_lib.locked(dict(epochs=10, lr=0.1, name="cora", flag=False,
                                  widths=(16, 16), nested=dict(depth=2)))


def test_overrides_parse_into_the_default_type():
    config = config_lib.apply_overrides(
        _config(), ["epochs=20", "lr=1e-3", "name=citeseer", "flag=true", "widths=(8, 4, 2)",
                    "nested.depth=3"])
    assert config.epochs == 20 and isinstance(config.epochs, int)
    assert config.lr == pytest.approx(1e-3)
    assert config.name == "citeseer" and config.flag is True
    assert tuple(config.widths) == (8, 4, 2) and config.nested.depth == 3


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(config_lib.ConfigError, match=r"unknown config key 'epoch'.*epochs.*lr"):
        config_lib.apply_overrides(_config(), ["epoch=3"])


@pytest.mark.parametrize("override", ["epochs=ten", "lr=fast", "flag=maybe", "widths=3"])
def test_wrong_type_names_key_and_type(override):
    key = override.split("=")[0]
    with pytest.raises(config_lib.ConfigError, match=key):
        config_lib.apply_overrides(_config(), [override])


def test_malformed_override():
    with pytest.raises(config_lib.ConfigError, match="key=value"):
        config_lib.apply_overrides(_config(), ["epochs"])


def test_result_is_locked_and_input_untouched():
    base = _config()
    config = config_lib.apply_overrides(base, ["epochs=5"])
    assert base.epochs == 10
    with pytest.raises(AttributeError):
        config.not_a_key = 1
    assert config_lib.config_hash(config) != config_lib.config_hash(base)
