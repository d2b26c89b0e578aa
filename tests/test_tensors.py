import numpy as np
import pytest
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from finfer.pipelines.tensors import pack_floats, pack_strings, unpack_numbers, unpack_strings


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
