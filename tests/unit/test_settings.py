"""settings.pg_bool reads a setting as PostgreSQL's parse_bool would (unset/invalid is off)."""

import pytest

from pg_session_jwt.settings import pg_bool

TRUE = ["t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"]
FALSE = ["f", "fa", "false", "n", "no", "of", "off", "0", "o", ""]
GARBAGE = ["2", "10", "01", "truex", "yess", "onn", "enabled", " on", "on ", "t rue", "да"]


@pytest.mark.parametrize("value", TRUE + [v.upper() for v in TRUE] + ["True", "tRuE", "Yes", "oN", "On"])
def test_true_spellings(value):
    assert pg_bool(value) is True


@pytest.mark.parametrize("value", FALSE + [v.upper() for v in FALSE] + GARBAGE + [None])
def test_false_unset_and_garbage(value):
    assert pg_bool(value) is False
