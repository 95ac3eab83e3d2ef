"""Framing and splitting logic of the pod exec transport (the transport itself is tested on the cluster)."""

import os
import socket

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_session import STDIN_FRAME_BYTES
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.exec_websocket import FrameReader, send_unmasked_frame
from ansible_collections.alertmanagerpp.datastores.plugins.module_utils.pod_files import split_ranges


@pytest.mark.parametrize("size", [1, 125, 126, 65535, 65536, 3 * 65536 + 5])
def test_an_unmasked_frame_reads_back_as_sent(size):
    """Every length encoding (7-bit, 16-bit, 64-bit) with the mask bit set and a zero key."""
    payload = os.urandom(size)
    left, right = socket.socketpair()
    with left, right:
        send_unmasked_frame(left, b"\x00", memoryview(payload))
        left.shutdown(socket.SHUT_WR)
        opcode, frame = FrameReader(right).next_frame()
    assert opcode == 0x2
    assert frame == b"\x00" + payload


def test_an_unmasked_frame_header_sets_the_mask_bit():
    left, right = socket.socketpair()
    with left, right:
        send_unmasked_frame(left, b"\x00", b"abc")
        head = right.recv(64)
    assert head == bytes([0x82, 0x80 | 4, 0, 0, 0, 0]) + b"\x00abc"


@pytest.mark.parametrize("size,streams", [
    (1, 4), (STDIN_FRAME_BYTES, 4), (STDIN_FRAME_BYTES * 4, 4), (STDIN_FRAME_BYTES * 4 + 1, 4),
    (STDIN_FRAME_BYTES * 10 + 7, 3), (STDIN_FRAME_BYTES * 10, 1),
])
def test_ranges_cover_the_file_exactly_once(size, streams):
    ranges = split_ranges(size, streams)
    assert 1 <= len(ranges) <= streams
    assert all(length > 0 for dummy, length in ranges)
    assert ranges[0][0] == 0
    for (offset, length), (next_offset, dummy) in zip(ranges, ranges[1:]):
        assert offset + length == next_offset
    assert ranges[-1][0] + ranges[-1][1] == size


def test_small_files_go_in_one_stream():
    """Below a frame per stream, extra connections cost more than they bring."""
    assert split_ranges(STDIN_FRAME_BYTES - 1, 4) == [(0, STDIN_FRAME_BYTES - 1)]
    assert len(split_ranges(STDIN_FRAME_BYTES * 2, 4)) == 2
