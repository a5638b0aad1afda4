"""Checks a system's output before its time counts: every file sorted by (key, timestamp), every
row inside its leaf's key range, and the total row count equal to the input's.

The generated keys are lowercase ASCII, for which Arrow's byte order is Java's String order."""

import pyarrow.compute as pc
import pyarrow.parquet as pq


class VerificationError(Exception):
    pass


def check_file(path, low, high):
    """Rows in `path`, after checking it is sorted and inside [low, high) (None: unbounded)."""
    table = pq.read_table(path, columns=["key", "timestamp"])
    rows = table.num_rows
    if rows == 0:
        return 0
    keys, times = table.column("key"), table.column("timestamp")
    if rows > 1:
        before, after = keys.slice(0, rows - 1), keys.slice(1)
        in_order = pc.or_(pc.less(before, after),
                          pc.and_(pc.equal(before, after),
                                  pc.less_equal(times.slice(0, rows - 1), times.slice(1))))
        if not pc.all(in_order).as_py():
            raise VerificationError(f"{path}: rows are not sorted by (key, timestamp)")
    first, last = keys[0].as_py(), keys[rows - 1].as_py()
    if (low is not None and first < low) or (high is not None and last >= high):
        raise VerificationError(f"{path}: keys {first!r}..{last!r} fall outside its leaf [{low!r}, {high!r})")
    return rows


def check_output(files_with_ranges, expected_rows):
    """`files_with_ranges`: (path, low, high) for every file written. Returns the file count."""
    total = sum(check_file(path, low, high) for path, low, high in files_with_ranges)
    if total != expected_rows:
        raise VerificationError(f"{total} rows written, {expected_rows} rows in the input")
    return len(files_with_ranges)


def check_row_count(paths, expected_rows):
    """The copy floor's check: its output is unsorted by design, so only the rows are counted."""
    total = sum(pq.ParquetFile(path).metadata.num_rows for path in paths)
    if total != expected_rows:
        raise VerificationError(f"{total} rows written, {expected_rows} rows in the input")
    return len(paths)


def leaf_range(split_points, leaf):
    """The key range of leaf `leaf` of a table split at `split_points`."""
    low = split_points[leaf - 1] if leaf > 0 else None
    high = split_points[leaf] if leaf < len(split_points) else None
    return low, high
