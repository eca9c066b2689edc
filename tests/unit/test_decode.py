"""Decoding: every carrier real clients use (mixpanel-behavior.md §2.1), size limits."""

from __future__ import annotations

import base64
import gzip
import zlib
from urllib.parse import parse_qsl, quote

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from trackyard.decode.body import inflate_bytes
from trackyard.decode.payload import decode_data_param, decode_request, parse_form
from trackyard.errors import BadRequest, PayloadTooLarge

EVENTS = [{"event": "a>b?", "properties": {"name": "Zoë ~ ✓", "n": 1}}]
JSON = orjson.dumps(EVENTS)
B64 = base64.b64encode(JSON).decode()


def test_fixture_base64_has_a_plus_sign() -> None:
    assert "+" in B64  # the point of several tests below


@pytest.mark.parametrize(
    "value",
    [
        JSON.decode(),  # Python: plain JSON
        B64,  # percent-decoded base64
        B64.replace("+", " "),  # Node/PHP: `+` not percent-encoded, read as space
        B64.rstrip("="),  # missing padding
        base64.urlsafe_b64encode(JSON).decode(),  # URL-safe alphabet
        f"  {JSON.decode()}\n",  # surrounding whitespace
    ],
)
def test_data_param_encodings(value: str) -> None:
    assert decode_data_param(value) == EVENTS


def test_data_param_single_object_becomes_one_record() -> None:
    assert decode_data_param(orjson.dumps(EVENTS[0]).decode()) == EVENTS


@pytest.mark.parametrize(
    "value", ["!!!", "aGVsbG8=", "{not json", base64.b64encode(b"\xff\xfe").decode()]
)
def test_data_param_garbage_is_bad_request(value: str) -> None:
    with pytest.raises(BadRequest):
        decode_data_param(value)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", f"data={quote(B64)}&verbose=1".encode()),
        ("application/x-www-form-urlencoded", f"data={B64}&verbose=1".encode()),  # unencoded +
        ("application/x-www-form-urlencoded", f"data={quote(JSON.decode())}&verbose=1".encode()),
        ("text/plain;charset=UTF-8", f"data={quote(B64)}&verbose=1".encode()),  # sendBeacon
        ("", f"data={quote(B64)}&verbose=1".encode()),  # no content type at all
    ],
)
def test_form_bodies(content_type: str, body: bytes) -> None:
    decoded = decode_request("ip=0", body, content_type)
    assert decoded.records == EVENTS
    assert decoded.params["verbose"] == "1"  # form fields are parameters too (§2.3)
    assert decoded.params["ip"] == "0"
    assert decoded.via_data_param


def test_query_string_data() -> None:
    decoded = decode_request(f"data={quote(B64)}&verbose=1&img=1", b"", "")
    assert decoded.records == EVENTS
    assert decoded.params["img"] == "1"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", JSON),
        ("application/json", orjson.dumps(EVENTS[0])),
        ("application/json", orjson.dumps({"data": EVENTS})),  # the seed spec's wrapper
        ("application/json", orjson.dumps({"data": B64})),
        ("application/x-ndjson", b"\n".join(orjson.dumps(e) for e in EVENTS * 3) + b"\n"),
        ("text/plain", JSON),  # mislabeled JSON is still JSON
    ],
)
def test_json_bodies(content_type: str, body: bytes) -> None:
    decoded = decode_request("", body, content_type)
    assert decoded.records and all(r == EVENTS[0] for r in decoded.records)
    assert not decoded.via_data_param


def test_ndjson_without_content_type() -> None:
    body = orjson.dumps(EVENTS[0]) + b"\n" + orjson.dumps(EVENTS[0])
    assert len(decode_request("", body, "application/json").records) == 2


def test_ndjson_error_names_the_line() -> None:
    with pytest.raises(BadRequest, match="line 2"):
        decode_request("", b'{"event":"a"}\n{oops\n', "application/x-ndjson")


# Bytes that make form bodies interesting: separators, escapes (valid, broken,
# of UTF-8 and of invalid UTF-8), `+`, and raw non-ASCII.
FORM_PIECES = ["data", "=", "&", "+", "%2B", "%3D", "%26", "%C3%A9", "%FF", "%", "%4", "%zz"]
FORM_PIECES += ["a", "Zz0", " ", "\n", "é", "\x00"]


@given(
    st.one_of(
        st.lists(st.sampled_from(FORM_PIECES), max_size=12).map(lambda p: "".join(p).encode()),
        st.binary(max_size=40),
        st.binary(max_size=40).map(lambda b: b"data=" + b),
    )
)
@example(b"data=" + quote(B64, safe="").encode())
@example(f"data={B64}".encode())  # `+` left as it is: a space, as parse_qsl reads it
@example(b"")
@example(b"data")
@example(b"=")
@example(b"data=%C3")
@example(b"\xc3%A9=x")  # a raw byte and an escape that would make one character together
def test_form_fields_are_what_parse_qsl_reads(body: bytes) -> None:
    expected = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    assert parse_form(body) == expected


def test_form_without_data_has_no_records() -> None:
    assert decode_request("", b"verbose=1", "application/x-www-form-urlencoded").records == []


# Bodies: gzip and limits ---------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "", None, "x-gzip", " GZIP "])
def test_gzip_detected_by_header_or_magic(encoding: str | None) -> None:
    assert inflate_bytes(gzip.compress(JSON), encoding, 10_000) == JSON


def test_plain_body_with_empty_encoding_header() -> None:
    assert inflate_bytes(JSON, "", 10_000) == JSON


def test_concatenated_gzip_members() -> None:
    assert inflate_bytes(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 100) == b"abcd"


def test_zlib_deflate() -> None:
    assert inflate_bytes(zlib.compress(JSON), "deflate", 10_000) == JSON


def test_limit_is_inclusive() -> None:
    assert inflate_bytes(b"x" * 100, None, 100) == b"x" * 100
    with pytest.raises(PayloadTooLarge):
        inflate_bytes(b"x" * 101, None, 100)


def test_gzip_limit_applies_to_inflated_size() -> None:
    body = gzip.compress(b"x" * 101)
    assert len(body) < 100
    with pytest.raises(PayloadTooLarge):
        inflate_bytes(body, "gzip", 100)
    assert inflate_bytes(gzip.compress(b"x" * 100), "gzip", 100) == b"x" * 100


def test_gzip_bomb_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, 1)  # ~200 KB that inflates to 50 MB
    with pytest.raises(PayloadTooLarge):
        inflate_bytes(bomb, "gzip", 1_000_000)


@pytest.mark.parametrize("body", [b"\x1f\x8bnot gzip at all", gzip.compress(JSON)[:-12]])
def test_broken_gzip_is_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest):
        inflate_bytes(body, "gzip", 10_000)


def test_unknown_encoding_is_bad_request() -> None:
    with pytest.raises(BadRequest, match="br"):
        inflate_bytes(JSON, "br", 10_000)


def _cesu8(text: str) -> bytes:
    """Each UTF-16 code unit encoded as UTF-8 on its own, as mixpanel-browser does."""
    units = text.encode("utf-16-be")
    return b"".join(
        units[i : i + 2].decode("utf-16-be", "surrogatepass").encode("utf-8", "surrogatepass")
        for i in range(0, len(units), 2)
    )


def test_cesu8_emoji_from_the_browser_sdk_are_joined() -> None:
    # mixpanel-browser's utf8Encode writes each surrogate half separately (mixpanel-js#385).
    assert _cesu8("🚀") == b"\xed\xa0\xbd\xed\xba\x80"
    payload = _cesu8(orjson.dumps([{"event": "rocket 🚀 ✓"}]).decode())
    assert decode_data_param(base64.b64encode(payload).decode()) == [{"event": "rocket 🚀 ✓"}]


def test_lone_surrogate_bytes_stay_an_error() -> None:
    with pytest.raises(BadRequest):
        decode_data_param(base64.b64encode(b'["\xed\xa0\xbd"]').decode())


def test_ndjson_whose_first_line_is_not_an_object() -> None:
    # Found by the fuzz test: a batch starting with a junk line lost its valid records.
    decoded = decode_request("", b'null\n{"event":"a"}\n', "application/x-ndjson")
    assert decoded.records == [None, {"event": "a"}]


def test_json_scalar_body_is_json_not_a_form() -> None:
    assert decode_request("", b"42", "application/json").records == [42]


def test_form_mislabeled_as_json_is_still_a_form() -> None:
    decoded = decode_request("", f"data={quote(B64)}".encode(), "application/json")
    assert decoded.records == EVENTS
