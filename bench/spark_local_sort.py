"""Sleeper's default Spark bulk import (`BulkImportDataframeLocalSortDriver`) in PySpark local
mode: add each row's leaf index by the table's split points, repartition by it into as many
partitions as leaves, sort within partitions by leaf, row key, sort key, and write one zstd
Parquet file per leaf.

    spark_local_sort.py INPUT_DIR OUTPUT_DIR SPLIT_POINTS_FILE CORES"""

import os
import sys

from pyspark.sql import SparkSession, functions as F

from leaf_expression import leaf_case, spark_string

LEAF = "__sleeper_leaf"


def main(input_dir, output_dir, split_points_file, cores):
    split_points = open(split_points_file).read().splitlines()
    leaves = len(split_points) + 1
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("sleeper-bulk-import-local-sort")
             .config("spark.driver.memory", os.environ.get("BENCH_SPARK_MEMORY", "12g"))
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(leaves))
             .config("spark.sql.parquet.compression.codec", "zstd")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    rows = (spark.read.option("pathGlobFilter", "*.parquet").option("recursiveFileLookup", "true").parquet(input_dir)
            .withColumn(LEAF, F.expr(leaf_case(split_points, "key", spark_string)))
            .repartition(leaves, F.col(LEAF))
            .sortWithinPartitions(LEAF, "key", "timestamp"))
    # partitionBy starts a new file whenever the leaf changes, as Sleeper's writer does; the rows
    # are already ordered by leaf, so Spark adds no sort of its own.
    rows.write.mode("overwrite").partitionBy(LEAF).parquet(output_dir)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
