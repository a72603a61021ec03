"""The registry: Google's names, their tokenizer settings, suggestions, and entries from plugins."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from berthub.errors import ConfigError, NotFoundError, PluginError
from berthub.sources import registry
from berthub.sources.registry import ModelEntry, list_models, model_entry

CLASSIC = {
    "bert-base-uncased": True,
    "bert-large-uncased": True,
    "bert-base-cased": False,
    "bert-large-cased": False,
    "bert-base-multilingual-uncased": True,
    "bert-base-multilingual-cased": False,
    "bert-base-chinese": True,
}


@pytest.fixture(autouse=True)
def fresh_registry():
    registry.reload()
    yield
    registry.reload()


@pytest.mark.parametrize("name", sorted(CLASSIC))
def test_classic_name_points_to_its_namespaced_google_bert_repo(name):
    entry = model_entry(name)
    assert (entry.repo_id, entry.revision, entry.url) == (f"google-bert/{name}", "main", None)


@pytest.mark.parametrize(("name", "lower"), sorted(CLASSIC.items()))
def test_classic_name_carries_the_casing_and_length_its_tokenizer_needs(name, lower):
    entry = model_entry(name)
    assert (entry.do_lower_case, entry.max_len) == (lower, 512)


def test_whole_word_masking_releases_are_registered_with_their_casing():
    assert model_entry("bert-large-uncased-whole-word-masking").do_lower_case is True
    assert model_entry("bert-large-cased-whole-word-masking-finetuned-squad").do_lower_case is False


def test_every_builtin_entry_is_described_and_marked_built_in():
    builtin = [entry.name for entry in registry.BUILTIN_MODELS]
    assert set(builtin) <= set(list_models())  # installed plugins may add more names
    for name in builtin:
        entry = model_entry(name)
        assert entry.description and entry.source == registry.BUILTIN_SOURCE


def test_list_models_is_sorted_and_filters_by_shell_pattern():
    assert list_models() == sorted(list_models())
    assert list_models("bert-base-multilingual-*") == ["bert-base-multilingual-cased", "bert-base-multilingual-uncased"]


def test_list_models_is_part_of_the_public_api():
    import berthub

    assert berthub.list_models() == list_models()


def test_unknown_name_is_not_found_and_suggests_the_closest_names():
    with pytest.raises(NotFoundError) as raised:
        model_entry("bert-base-chines")
    message = str(raised.value)
    assert message.startswith("Unknown model 'bert-base-chines'. Did you mean 'bert-base-chinese'")
    assert "`berthub models`" in message


def test_name_far_from_every_registered_one_gets_no_suggestion():
    with pytest.raises(NotFoundError) as raised:
        model_entry("roberta-xxl")
    assert "Did you mean" not in str(raised.value)


def test_register_adds_a_name_at_run_time_and_refuses_a_taken_one():
    registry.register(ModelEntry("tiny-bert", repo_id="acme/tiny-bert", do_lower_case=False))
    assert model_entry("tiny-bert").repo_id == "acme/tiny-bert"
    with pytest.raises(ConfigError, match="'bert-base-uncased' is registered twice"):
        registry.register(ModelEntry("bert-base-uncased", repo_id="acme/impostor"))


def test_invalid_entry_lists_every_problem_at_once():
    bad = ModelEntry("a/b", repo_id="no-namespace", url="ftp://x", max_len=0, sha256="xyz")
    with pytest.raises(ConfigError) as raised:
        registry.register(bad)
    message = str(raised.value)
    for problem in ("no '/'", "exactly one of repo_id or url", "'namespace/name'", "http://", "sha256", "max_len"):
        assert problem in message


def test_a_name_or_repo_id_ending_in_a_newline_is_refused():
    with pytest.raises(ConfigError, match=r"name 'my-bert\\n' must be.*repo_id 'acme/my-bert\\n'"):
        registry.register(ModelEntry("my-bert\n", repo_id="acme/my-bert\n"))


def _install_plugin(site: Path, dist: str, module_source: str, entry_points: str) -> None:
    """A real installed distribution (dist-info + module) on sys.path, the way pip would leave it."""
    module = dist.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[berthub.models]\n" + textwrap.dedent(entry_points))


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugin_entries_join_the_registry_with_their_distribution_as_source(site):
    _install_plugin(
        site,
        "acme-berts",
        """
        from berthub.sources.registry import ModelEntry
        ENTRIES = [ModelEntry("acme-bert-small", repo_id="acme/bert-small", do_lower_case=False, max_len=128),
                   ModelEntry("acme-legacy", url="https://example.org/acme-legacy.tar.gz")]
        ONE = ModelEntry("acme-bert-one", repo_id="acme/bert-one")
        """,
        "acme = acme_berts:ENTRIES\nacme-one = acme_berts:ONE\n",
    )
    entry = model_entry("acme-bert-small")
    assert (entry.repo_id, entry.do_lower_case, entry.max_len) == ("acme/bert-small", False, 128)
    assert entry.source.startswith("acme-berts (entry point 'acme = acme_berts:ENTRIES')")
    assert {"acme-bert-small", "acme-legacy", "acme-bert-one", "bert-base-uncased"} <= set(list_models())


def test_plugin_name_clashing_with_a_builtin_is_an_error_naming_both_and_others_still_load(site):
    _install_plugin(
        site,
        "impostor",
        """
        from berthub.sources.registry import ModelEntry
        ENTRY = ModelEntry("bert-base-chinese", repo_id="impostor/bert-base-chinese")
        """,
        "impostor = impostor:ENTRY\n",
    )
    with pytest.raises(PluginError) as raised:
        model_entry("bert-base-chinese")
    assert "registered twice: by berthub (built-in) and by impostor (entry point" in str(raised.value)
    assert model_entry("bert-base-cased").repo_id == "google-bert/bert-base-cased"


def test_invalid_plugin_entry_is_reported_with_its_distribution_and_problems(site):
    _install_plugin(
        site,
        "sloppy",
        """
        from berthub.sources.registry import ModelEntry
        ENTRY = ModelEntry("sloppy-bert", repo_id="sloppy-bert", do_lower_case="yes")
        """,
        "sloppy = sloppy:ENTRY\n",
    )
    with pytest.raises(NotFoundError) as raised:
        model_entry("sloppy-bert")
    message = str(raised.value)
    assert "sloppy (entry point 'sloppy = sloppy:ENTRY')" in message
    assert "'namespace/name'" in message and "do_lower_case must be True or False" in message


def test_plugin_that_fails_to_import_only_loses_its_own_names(site):
    _install_plugin(site, "broken-berts", "raise ImportError('needs acme-core')\n", "broken = broken_berts:ENTRIES\n")
    assert model_entry("bert-base-uncased").repo_id == "google-bert/bert-base-uncased"
    assert any("broken-berts" in problem and "needs acme-core" in problem for problem in registry.plugin_problems())
    with pytest.raises(NotFoundError, match="broken-berts .* failed to load"):
        model_entry("broken-bert-base")


def test_plugin_pointing_at_something_else_than_entries_is_reported(site):
    _install_plugin(site, "confused", "ENTRIES = {'name': 'x'}\n", "confused = confused:ENTRIES\n")
    assert any("must point to a berthub.ModelEntry" in p for p in registry.plugin_problems())


def test_berthubs_own_entry_point_for_the_builtins_does_not_register_them_twice(site):
    _install_plugin(site, "berthub-copy", "", "google-bert = berthub.sources.registry:BUILTIN_MODELS\n")
    assert model_entry("bert-base-uncased").source == registry.BUILTIN_SOURCE
    assert registry.plugin_problems() == []
