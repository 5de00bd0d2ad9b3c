"""strictjson: only JSON that PostgreSQL's jsonb would also accept and return."""

import json

import pytest

from pg_session_jwt import strictjson


@pytest.mark.parametrize(
    "text, value",
    [
        ('{"a":[1,2.5,"x",true,false,null]}', {"a": [1, 2.5, "x", True, False, None]}),
        (b'{"sub":"\xc3\xa9"}', {"sub": "é"}),
        ('"\\ud83d\\ude00"', "\U0001F600"),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_valid_json_parses(text, value):
    assert strictjson.loads(text) == value


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a":NaN}', "[Infinity]"])
def test_non_finite_constants_refused(text):
    with pytest.raises(ValueError, match="is not JSON"):
        strictjson.loads(text)


@pytest.mark.parametrize("text", ["1e999", "-1e999", '{"n":1e400}', "[0.1e310]"])
def test_overflowing_numbers_refused_or_kept_as_json(text):
    """json.loads reads these as float('inf'); dumps() must not then write the non-JSON 'Infinity'."""
    try:
        value = strictjson.loads(text)
    except ValueError:
        return
    strictjson.loads(strictjson.dumps(value))


@pytest.mark.parametrize("data", [b'"\xff"', b'{"a":"\xc3"}', b'"\xed\xa0\x80"', b'"\xc0\xaf"'])
def test_invalid_utf8_refused(data):
    with pytest.raises(ValueError, match="not UTF-8"):
        strictjson.loads(data)


def test_byte_order_mark_refused():
    with pytest.raises(ValueError):
        strictjson.loads(b"\xef\xbb\xbf{}")


@pytest.mark.parametrize("text", ['"a\\u0000b"', '{"k\\u0000":1}', '[["\\u0000"]]', '{"a":{"b\\u0000":1}}'])
def test_nul_character_refused(text):
    with pytest.raises(ValueError, match="NUL character"):
        strictjson.loads(text)


@pytest.mark.parametrize("text", ['"\\ud800"', '"\\udfff"', '{"\\ud800":1}', '[{"a":["\\udc00x"]}]'])
def test_lone_surrogate_escape_refused(text):
    with pytest.raises(ValueError, match="lone surrogate"):
        strictjson.loads(text)


def test_lone_surrogate_in_python_text_refused():
    with pytest.raises(ValueError, match="lone surrogate"):
        strictjson.loads('"\ud800"')


@pytest.mark.parametrize("text", ["[" * 100000, "{\"a\":" * 100000, "[" * 100000 + "]" * 100000])
def test_deep_nesting_is_a_value_error(text):
    with pytest.raises(ValueError, match="nested too deeply"):
        strictjson.loads(text)


def nested(kind: str, depth: int) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("kind", ["array", "object"])
def test_nesting_up_to_the_limit_accepted(kind):
    assert strictjson.loads(nested(kind, strictjson.MAX_DEPTH)) is not None


@pytest.mark.parametrize("kind", ["array", "object"])
def test_nesting_beyond_the_limit_refused(kind):
    with pytest.raises(ValueError, match="nested deeper"):
        strictjson.loads(nested(kind, strictjson.MAX_DEPTH + 1))


@pytest.mark.parametrize("text", ["1" * 5000, "-" + "9" * 5000, '{"jti":' + "1" * 10000 + "}"])
def test_huge_integer_digits_refused(text):
    with pytest.raises(ValueError):
        strictjson.loads(text)


@pytest.mark.parametrize("text", ["", " ", "{", "{'a':1}", "[1,]", '{"a":1}x', "01", '"\t"'])
def test_malformed_json_refused(text):
    with pytest.raises(ValueError):
        strictjson.loads(text)


@pytest.mark.parametrize("text", ["[]", "1", '"s"', "null", "true"])
def test_loads_object_refuses_non_objects(text):
    with pytest.raises(ValueError, match="not an object"):
        strictjson.loads_object(text)


def test_loads_object_accepts_object():
    assert strictjson.loads_object(b'{"jti":1}') == {"jti": 1}


def test_dumps_is_compact_and_keeps_non_ascii():
    assert strictjson.dumps({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'


def test_dumps_escapes_control_characters():
    assert json.loads(strictjson.dumps("a\nb\r\x1b")) == "a\nb\r\x1b"
    assert "\n" not in strictjson.dumps("a\nb")
