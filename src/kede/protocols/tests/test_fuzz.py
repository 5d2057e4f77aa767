"""Fuzzing: the reader never fails any other way; generated messages survive the round trip."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from kede.protocols.iso18626 import VERSIONS, Iso18626Error, read, write

from .examples import SAMPLES, TEXT, every_kind, messages, needs_shared, schema

SAMPLE_BYTES = (
    sorted(path.read_bytes() for path in SAMPLES.glob("*.xml")) if SAMPLES.is_dir() else []
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_or_refuse(data: bytes) -> None:
    """Reading may succeed or raise Iso18626Error; anything else fails the test."""
    with contextlib.suppress(Iso18626Error):
        read(data)


@FAST
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_anything_but_iso18626_error(data):
    read_or_refuse(data)


@FAST
@given(st.text(st.sampled_from('<>/="ISO18626Message xmlns:ill &;!-?[]'), max_size=200))
def test_xmlish_noise_never_raises_anything_but_iso18626_error(text):
    read_or_refuse(text.encode())


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLE_BYTES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not data:
            break
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        match draw(st.sampled_from(["truncate", "flip", "delete", "insert", "duplicate"])):
            case "truncate":
                del data[at:]
            case "flip":
                data[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
            case "delete":
                del data[at : at + draw(st.integers(min_value=1, max_value=40))]
            case "insert":
                data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b"\x00", b"\xff", b"<x/>"]))
            case "duplicate":
                end = min(len(data), at + draw(st.integers(min_value=1, max_value=200)))
                data[at:at] = data[at:end]
    return bytes(data)


@needs_shared
@FAST
@given(mutated_samples())
def test_mutated_samples_never_raise_anything_but_iso18626_error(data):
    read_or_refuse(data)


ODD_VALUES = ["NaN", "1e5", "+5", "１２", "1_000", "Y ", "true", "", " ", "x" * 300]
ODD_VALUES += ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+08:00", "Lent"]


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    """A well-formed message with elements given odd values, dropped or repeated."""
    version = draw(st.sampled_from(VERSIONS))
    root = etree.fromstring(write(draw(st.sampled_from(every_kind(version))), version))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        elements = list(root.iter())[1:]
        if not elements:
            break
        element = draw(st.sampled_from(elements))
        match draw(st.sampled_from(["value", "drop", "repeat"])):
            case "value":
                element.text = draw(st.sampled_from(ODD_VALUES) | TEXT)
            case "drop":
                element.getparent().remove(element)
            case "repeat":
                element.addnext(etree.fromstring(etree.tostring(element)))
    return etree.tostring(root)


@FAST
@given(mutated_messages())
def test_mutated_messages_never_raise_anything_but_iso18626_error(data):
    read_or_refuse(data)


@needs_shared
@pytest.mark.parametrize("version", VERSIONS)
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_messages_are_schema_valid_and_round_trip(version, data):
    # given any message this version can say
    message = data.draw(messages(version))

    # when written
    written = write(message, version)

    # then the schema accepts it and reading gives the same message back
    schema(version).assertValid(etree.fromstring(written))
    assert read(written) == message
