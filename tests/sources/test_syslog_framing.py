"""RFC 6587 framing of a syslog TCP stream: octet counting, newlines, limits."""

from __future__ import annotations

import pytest

from apiwatch.sources.syslog import FramingError, split_frames


def test_octet_counted_and_newline_frames_mix_and_wait_for_their_end() -> None:
    """Complete frames are taken in order; a partial one stays in the buffer."""
    buffer = bytearray(b"5 hello<13>plain line\n11 partial")
    frames, skipped = split_frames(buffer, 100)
    assert frames == [b"hello", b"<13>plain line"]
    assert skipped == 0
    assert buffer == b"11 partial"
    buffer += b"-end"
    assert split_frames(buffer, 100) == ([b"partial-end"], 0)
    assert buffer == b""


def test_a_nul_ends_a_frame_too() -> None:
    """Some senders end messages with NUL instead of a newline."""
    assert split_frames(bytearray(b"<13>a\x00<13>b\n"), 100)[0] == [b"<13>a", b"<13>b"]


def test_an_over_long_counted_frame_is_skipped_and_counted() -> None:
    """A counted frame over the limit is dropped whole and counted; the next one is read."""
    buffer = bytearray(b"12 0123456789ab3 abc")
    assert split_frames(buffer, 10) == ([b"abc"], 1)


def test_a_counted_frame_too_large_to_hold_is_refused_before_it_arrives() -> None:
    """A declared length over the limit whose bytes have not all arrived stops the stream."""
    with pytest.raises(FramingError, match="octet-counted"):
        split_frames(bytearray(b"999999 <13>..."), 1000)


def test_an_unframed_message_over_the_limit_ends_the_stream() -> None:
    """Without a newline within the limit, where the next message starts cannot be known."""
    with pytest.raises(FramingError, match="without a line end"):
        split_frames(bytearray(b"<13>" + b"x" * 50), 20)
