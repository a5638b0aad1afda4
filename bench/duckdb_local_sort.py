"""The same output from DuckDB: each leaf's rows, sorted by row key then sort key, in one zstd
Parquet file per leaf.

DuckDB's multi-threaded `COPY ... PARTITION_BY` writes files whose rows are not in order, so the
rows are first loaded with their leaf index into a table ordered by leaf, and each leaf is then
written by its own `COPY (SELECT ... WHERE leaf = i ORDER BY key, timestamp)`, a non-partitioned
COPY whose order DuckDB preserves. The table's zone maps let each of those read only its leaf;
`CORES` connections write leaves at once.

    duckdb_local_sort.py INPUT_DIR OUTPUT_DIR SPLIT_POINTS_FILE CORES"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import duckdb

from leaf_expression import leaf_case, sql_string


def main(input_dir, output_dir, split_points_file, cores):
    split_points = open(split_points_file).read().splitlines()
    leaves = len(split_points) + 1
    con = duckdb.connect()
    con.execute(f"SET threads = {cores}")
    con.execute(f"SET memory_limit = '{os.environ.get('BENCH_DUCKDB_MEMORY', '12GB')}'")
    leaf = leaf_case(split_points, "key", sql_string)
    con.execute(f"CREATE TABLE input AS SELECT key, timestamp, value, ({leaf})::USMALLINT AS leaf "
                f"FROM read_parquet({sql_string(os.path.join(input_dir, '**', '*.parquet'))}) ORDER BY leaf")

    def write(i):
        cursor = con.cursor()
        directory = os.path.join(output_dir, f"leaf={i}")
        os.makedirs(directory, exist_ok=True)
        cursor.execute(f"COPY (SELECT key, timestamp, value FROM input WHERE leaf = {i} ORDER BY key, timestamp) "
                       f"TO {sql_string(os.path.join(directory, 'data.parquet'))} "
                       f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)")
        cursor.close()

    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(write, range(leaves)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
