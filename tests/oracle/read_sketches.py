"""Reads a Sleeper `.sketches` file with Apache DataSketches' own reader (the C++ library's Python
binding) and prints, as JSON, for each row-key field: k, n, min, max and the quantiles at ranks
0, 0.01, ..., 1.

usage: read_sketches.py FILE TYPE...   (TYPE: long, string or bytes, one per row-key field;
bytes are printed as hex)
"""
import json
import struct
import sys

from datasketches import PyLongsSerDe, PyObjectSerDe, PyStringsSerDe, quantiles_items_sketch


class ByteArraysSerDe(PyObjectSerDe):
    """Sleeper's ArrayOfByteArraysSerSe: a 4-byte little-endian length, then the bytes."""

    def get_size(self, item):
        return 4 + len(item)

    def to_bytes(self, item):
        return struct.pack("<i", len(item)) + item

    def from_bytes(self, data, offset):
        (length,) = struct.unpack_from("<i", data, offset)
        return bytes(data[offset + 4 : offset + 4 + length]), 4 + length


SERDES = {"long": PyLongsSerDe, "string": PyStringsSerDe, "bytes": ByteArraysSerDe}


def main():
    path, types = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        data = f.read()
    position, fields = 0, []
    for kind in types:
        (length,) = struct.unpack_from(">i", data, position)
        position += 4
        sketch = quantiles_items_sketch.deserialize(data[position : position + length], SERDES[kind]())
        position += length
        show = (lambda v: v.hex()) if kind == "bytes" else (lambda v: v)
        fields.append({
            "k": sketch.k,
            "n": sketch.n,
            "min": show(sketch.get_min_value()),
            "max": show(sketch.get_max_value()),
            "quantiles": [show(sketch.get_quantile(r / 100)) for r in range(101)],
        })
    if position != len(data):
        sys.exit(f"{len(data) - position} bytes after the last sketch")
    print(json.dumps(fields))


if __name__ == "__main__":
    main()
