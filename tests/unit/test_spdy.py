"""SPDY/3.1 framing of the exec transport (the protocol itself is exercised against the API server in tests/cluster)."""

import socket
import struct
import threading
import zlib

import pytest

from ansible_collections.alertmanagerpp.datastores.plugins.module_utils import spdy


def decode_header_block(decompressor, block):
    """[(name, value)] of a header block, as the API server's framer reads it (the collection only writes them)."""
    raw = decompressor.decompress(block)
    count, offset, headers = struct.unpack_from("!I", raw)[0], 4, []
    for dummy in range(count):
        fields = []
        for dummy_field in range(2):
            length = struct.unpack_from("!I", raw, offset)[0]
            fields.append(raw[offset + 4:offset + 4 + length].decode("utf-8"))
            offset += 4 + length
        headers.append(tuple(fields))
    return headers


def test_the_dictionary_is_the_spdy3_one():
    """Length-prefixed words then the value run: 1423 bytes, starting and ending as the specification's."""
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_share_one_compression_context():
    """The second block only decodes after the first: one zlib stream per connection, as the Go framer reads it."""
    compressor = spdy.HeaderCompressor()
    first = compressor.block([("streamType", "error")])
    second = compressor.block([("streamtype", "stdin"), ("x-extra", "a\x00b")])
    decompressor = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert decode_header_block(decompressor, first) == [("streamtype", "error")]
    assert decode_header_block(decompressor, second) == [("streamtype", "stdin"), ("x-extra", "a\x00b")]
    with pytest.raises(zlib.error):
        decode_header_block(zlib.decompressobj(zdict=spdy.DICTIONARY), second)


def test_a_syn_stream_frame_carries_its_stream_and_flags():
    frame = spdy.syn_stream(spdy.HeaderCompressor(), 5, [("streamtype", "stdout")], fin=True)
    version, kind, flags_length = struct.unpack("!HHI", frame[:8])
    assert version == 0x8000 | 3 and kind == spdy.SYN_STREAM
    assert flags_length >> 24 == spdy.FLAG_FIN and flags_length & 0xFFFFFF == len(frame) - 8
    stream_id, associated = struct.unpack("!II", frame[8:16])
    assert (stream_id, associated) == (5, 0)


def test_a_data_frame_longer_than_the_protocol_allows_is_refused():
    assert spdy.data_header(3, spdy.MAX_DATA_BYTES)[5:] == b"\xff\xff\xff"
    with pytest.raises(ValueError):
        spdy.data_header(3, spdy.MAX_DATA_BYTES + 1)


def send_in_pieces(sock, data, piece):
    for start in range(0, len(data), piece):
        sock.sendall(data[start:start + piece])
    sock.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("piece", [1, 7, 65536])
def test_frames_read_back_whatever_the_socket_hands_over(piece):
    payload = bytes(range(256)) * 300
    wire = (spdy.data_header(5, len(payload)) + payload + spdy.ping(7)
            + spdy.control_frame(spdy.RST_STREAM, 0, struct.pack("!II", 3, 5))
            + spdy.data_header(1, 0, fin=True))
    left, right = socket.socketpair()
    with left, right:
        writer = threading.Thread(target=send_in_pieces, args=(left, wire, piece))
        writer.start()
        reader = spdy.FrameReader(right, already=b"")
        frames = [reader.next_frame() for dummy in range(4)]
        with pytest.raises(EOFError):
            reader.next_frame()
        writer.join()
    data, ping, reset, fin = frames
    assert (data.kind, data.stream_id, data.payload, data.fin) == (None, 5, payload, False)
    assert (ping.kind, ping.payload) == (spdy.PING, struct.pack("!I", 7))
    assert (reset.kind, reset.stream_id) == (spdy.RST_STREAM, 3)
    assert (fin.kind, fin.stream_id, fin.payload, fin.fin) == (None, 1, b"", True)


def test_bytes_read_past_the_http_response_are_the_first_frame():
    left, right = socket.socketpair()
    with left, right:
        head = spdy.data_header(5, 3) + b"abc"
        left.shutdown(socket.SHUT_WR)
        frame = spdy.FrameReader(right, already=head).next_frame()
    assert (frame.stream_id, frame.payload) == (5, b"abc")


def test_a_frame_cut_short_is_an_error_not_an_end():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(spdy.data_header(5, 10) + b"abc")
        left.shutdown(socket.SHUT_WR)
        with pytest.raises(spdy.SpdyError, match="middle of a frame"):
            spdy.FrameReader(right).next_frame()
