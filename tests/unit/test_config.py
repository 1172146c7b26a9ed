from pathlib import Path

import pytest

from devenv.config import PROFILE_NAMES, default_name, find_config, load_project, parse_config, read_dotenv
from devenv.errors import ConfigError, ExitCode, NoProjectError


def test_defaults_enable_all_four_profiles():
    config, warnings = parse_config("name: shop\n")
    assert config.profiles == list(PROFILE_NAMES)
    assert config.bind_address == "127.0.0.1"
    assert config.api.port == 3000 and config.api.health_path == "/health"
    assert warnings == []


def test_empty_file_is_all_defaults():
    config, _ = parse_config("")
    assert config.name is None and config.profiles == list(PROFILE_NAMES)


def test_wrong_type_names_file_line_and_key():
    text = "name: shop\napi:\n  build:\n    target: dev\n  port: three-thousand\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "devenv.yaml")
    assert str(info.value).startswith("devenv.yaml:5: api.port: Input should be a valid integer")
    assert info.value.code == ExitCode.INVALID_CONFIG
    assert "docs/reference/devenv-yaml.md" in info.value.hint


def test_unknown_profile_suggests_the_closest():
    with pytest.raises(ConfigError) as info:
        parse_config("name: shop\nprofiles:\n  - api\n  - postgress\n", "devenv.yaml")
    assert str(info.value) == (
        "devenv.yaml:4: profiles.1: unknown profile 'postgress'; expected one of api, postgres, "
        "redis, mailhog (did you mean 'postgres'?)"
    )


def test_override_of_unknown_service_names_its_line():
    with pytest.raises(ConfigError, match=r"^devenv.yaml:3: services.mysql: unknown profile 'mysql'"):
        parse_config("name: shop\nservices:\n  mysql: {}\n", "devenv.yaml")


def test_port_out_of_range():
    with pytest.raises(ConfigError, match=r"^devenv.yaml:3: api.port: Input should be less than or equal to 65535"):
        parse_config("name: shop\napi:\n  port: 70000\n", "devenv.yaml")


def test_health_path_must_be_absolute():
    with pytest.raises(ConfigError, match=r"devenv.yaml:3: api.health_path: must start with '/'"):
        parse_config("name: x\napi:\n  health_path: health\n", "devenv.yaml")


def test_invalid_project_name():
    with pytest.raises(ConfigError, match=r"^devenv.yaml:1: name: must be lowercase"):
        parse_config("name: My Shop\n", "devenv.yaml")


def test_several_problems_are_counted_in_one_error():
    with pytest.raises(ConfigError, match=r"\(and 1 more problem\)$"):
        parse_config("api:\n  port: x\n  container_port: y\n", "devenv.yaml")


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(ConfigError) as info:
        parse_config("name: shop\napi:\n  port: [3000\n", "devenv.yaml")
    assert str(info.value).startswith("devenv.yaml:4:")
    assert "YAML syntax" in info.value.hint


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match=r"^devenv.yaml:1: the file must be a mapping of keys, not a list"):
        parse_config("- api\n- postgres\n", "devenv.yaml")


def test_unknown_keys_warn_with_the_closest_name():
    _, warnings = parse_config("name: shop\napi:\n  helth_path: /healthz\nprofile: [api]\n", "devenv.yaml")
    assert warnings == [
        "devenv.yaml:3: unknown key 'api.helth_path' is ignored; did you mean 'health_path'?",
        "devenv.yaml:4: unknown key 'profile' is ignored; did you mean 'profiles'?",
    ]


def test_unknown_key_inside_a_service_override():
    _, warnings = parse_config("services:\n  redis:\n    imag: redis:7\n", "devenv.yaml")
    assert warnings == ["devenv.yaml:3: unknown key 'services.redis.imag' is ignored; did you mean 'image'?"]


def test_find_config_walks_up(tmp_path: Path):
    (tmp_path / "devenv.yaml").write_text("name: up\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "devenv.yaml"


def test_no_config_anywhere(tmp_path: Path):
    with pytest.raises(NoProjectError) as info:
        find_config(tmp_path)
    assert info.value.code == ExitCode.NO_PROJECT
    assert "no devenv.yaml in" in info.value.message


def test_project_name_from_env_and_folder(tmp_path: Path):
    root = tmp_path / "My_Shop.v2"
    root.mkdir()
    (root / "devenv.yaml").write_text("profiles: [redis]\n")
    assert load_project(root, env={}).name == "my_shopv2"
    assert load_project(root, env={"DEVENV_PROJECT_NAME": "ci-1"}).name == "ci-1"
    assert default_name(Path("/x/___")) == "devenv"


def test_read_dotenv(tmp_path: Path):
    path = tmp_path / ".env"
    path.write_text("# secrets\nPOSTGRES_PASSWORD='s3cret'\nexport A=1\nB=two # note\nBROKEN\n")
    assert read_dotenv(path) == {"POSTGRES_PASSWORD": "s3cret", "A": "1", "B": "two"}
    assert read_dotenv(tmp_path / "missing") == {}
