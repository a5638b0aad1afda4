"""The leaf index of a key as a balanced tree of comparisons with the split points, the way
Sleeper's partition tree descends: about log2(leaves) comparisons per row."""


def leaf_case(split_points, key_sql, literal):
    """A SQL CASE expression giving the leaf of `key_sql`; `literal` quotes a split point."""
    def build(lo, hi):
        if lo == hi:
            return str(lo)
        mid = (lo + hi + 1) // 2
        return (f"CASE WHEN {key_sql} < {literal(split_points[mid - 1])} "
                f"THEN {build(lo, mid - 1)} ELSE {build(mid, hi)} END")
    return build(0, len(split_points))


def sql_string(value):
    return "'" + value.replace("'", "''") + "'"


def spark_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
