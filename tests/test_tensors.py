import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from finfer.pipelines.tensors import as_array, pack_floats, pack_strings, raw_contents, unpack_numbers, unpack_strings


def test_strings_match_tritonclients_layout():
    values = ["own", "", "… < 0 DM", "日本"]
    packed = pack_strings(values)
    assert packed == serialize_byte_tensor(np.array([v.encode() for v in values], dtype=object)).item()
    assert unpack_strings(packed, len(values)) == values
    assert [v.decode() for v in deserialize_bytes_tensor(packed)] == values


def test_unpack_rejects_trailing_bytes():
    with pytest.raises(ValueError, match="trailing bytes"):
        unpack_strings(pack_strings(["a", "b"]), 1)


def test_floats_round_trip():
    rows = [[1.5, 2.0], [3.0, -4.25]]
    assert unpack_numbers(pack_floats(rows), "FP32", [2, 2]).tolist() == rows


def test_values_go_to_the_wire_packed_and_to_a_branch_as_arrays():
    strings = ["a", b"\x00\xff", "申请"]
    assert raw_contents("BYTES", strings) == pack_strings(strings)
    array = as_array("BYTES", (3, 1), strings)
    assert array.dtype == object and array.shape == (3, 1) and array[1, 0] == b"\x00\xff"
    assert array[0, 0] == b"a" and array[2, 0] == "申请".encode()  # as a step receives them from Triton
    rows = [(1.5, 2.0), (3.0, -4.25)]
    assert raw_contents("FP32", rows) == pack_floats(rows)
    assert as_array("FP32", (2, 2), rows).tolist() == [[1.5, 2.0], [3.0, -4.25]]
    assert raw_contents("BOOL", [[True], [False]]) == b"\x01\x00"
    assert as_array("BOOL", (2, 1), [True, False]).tolist() == [[True], [False]]
