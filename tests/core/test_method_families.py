"""A contribution registered with ``family=True`` answers for ``<name>:<variant>`` in its table (how
``peft:<type>`` resolves): lookups, listing, the contract checked on each variant, and the errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from promptyard import hookimpl
from promptyard.core.errors import PluginError, UnknownNameError
from promptyard.core.host import get_host, lookup, registered
from promptyard.testing import plugin_registered


@dataclass
class NoSettings:
    pass


class Variant:
    config_class = NoSettings

    def __init__(self, name: str):
        self.name = name

    def default_search_space(self):
        return {}

    def wrap(self, model, config, **context):
        return model


class Family:
    name = "toy"

    def __init__(self, variants=("a", "b"), broken=False):
        self.variants, self.broken, self.built = variants, broken, 0

    def variant_names(self):
        return list(self.variants)

    def variant(self, name):
        if name not in self.variants:
            raise UnknownNameError(f"toy has no variant {name!r}", hint=", ".join(self.variants))
        self.built += 1
        if self.broken:
            return object()
        return Variant(f"toy:{name}")


class Plugin:
    def __init__(self, family, *, family_flag=True):
        self.family, self.flag = family, family_flag

    @hookimpl
    def register_tuning_methods(self, register):
        register(self.family, family=self.flag)


def test_a_family_answers_for_its_variants_built_once_and_listed_when_expanded():
    family = Family()
    with plugin_registered(Plugin(family), name="toy-family"):
        a = lookup("tuning_methods", "toy:a")
        assert a.name == "toy:a" and lookup("tuning_methods", "toy:a") is a and family.built == 1
        table = get_host().table("tuning_methods")
        assert "toy:b" in table and "toy:c" not in table and "toy" not in table
        assert "toy" not in registered("tuning_methods")  # plain names only, nothing imported to list them
        assert {"toy:a", "toy:b"} <= set(table.names(expand=True))
        assert [m.name for m in table.values(expand=True) if m.name.startswith("toy")] == ["toy:a", "toy:b"]
        with pytest.raises(UnknownNameError, match="toy has no variant 'c'"):
            lookup("tuning_methods", "toy:c")
        with pytest.raises(UnknownNameError, match="'toy' names a family of tuning methods") as caught:
            lookup("tuning_methods", "toy")
        assert "toy:<name>" in caught.value.hint


def test_a_variant_is_checked_against_the_table_contract():
    with plugin_registered(Plugin(Family(broken=True)), name="broken-family"):
        with pytest.raises(PluginError, match="tuning method 'toy:a' lacks name, config_class"):
            lookup("tuning_methods", "toy:a")


def test_a_family_without_variant_members_is_rejected_at_registration():
    class NotAFamily:
        name = "nofam"

    with pytest.raises(PluginError, match="tuning method family 'nofam' lacks variant_names, variant"):
        with plugin_registered(Plugin(NotAFamily()), name="not-a-family"):
            pass


def test_the_builtin_peft_family_is_registered():
    table = get_host().table("tuning_methods")
    assert [e.name for e in table.families()] == ["peft"]
    assert lookup("tuning_methods", "peft:loha").name == "peft:loha"
