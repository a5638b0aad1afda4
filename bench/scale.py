"""The scale benchmark behind `bench/scale`: the same job, 20M rows of Sleeper's system-test data
into 256 leaves, grown to 200M and 1,000M rows, on the embedded engine with a fixed memory pool
(4 GiB by default), so that the larger runs must spill. For each size: wall time, rows/s per core
and its ratio to the smallest size's, peak RSS of the process, the most disk the spill directory
held at once, and every output file verified (sorted, inside its leaf, the row count).

The input is built from 20M-row chunks of 10 files, each generated once with a seed of its own
(distinct rows, not copies) and kept under WORK/scale-chunks/ for later runs: 1,000M rows need
about 21 GB for the input, and as much again for the table."""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import threading

import run
import verify

CHUNK_ROWS, CHUNK_FILES, LEAVES = 20_000_000, 10, 256
MARK_START, MARK_END = "<!-- bench/scale: start -->", "<!-- bench/scale: end -->"


class DirectoryPeak:
    """The most bytes a directory tree held at once, sampled every 200 ms."""

    def __init__(self, path):
        self.path, self.peak, self._stop = path, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _size(self):
        total = 0
        for root, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    continue
        return total

    def _sample(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, self._size())

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


class Scale:
    def __init__(self, args):
        self.args, self.bin = args, args.bin_dir
        self.work = os.path.abspath(args.work)
        self.chunks = os.path.join(self.work, "scale-chunks")
        self.run_dir = os.path.join(self.work, "scale-run")
        self.store = os.path.join(self.run_dir, "store")
        self.spill = os.path.join(self.run_dir, "spill")

    def cli(self, *args):
        return [os.path.join(self.bin, "bulk-import"), "--store", self.store, *args]

    def chunk(self, i):
        """The directory of chunk `i`, generated on first use."""
        directory = os.path.join(self.chunks, f"chunk-{i:03}")
        done = os.path.join(directory, ".complete")
        if not os.path.exists(done):
            shutil.rmtree(directory, ignore_errors=True)
            print(f"generating chunk {i}: {CHUNK_ROWS:,} rows", file=sys.stderr)
            points = subprocess.run([os.path.join(self.bin, "bulk-import"), "generate", "--rows", str(CHUNK_ROWS),
                                     "--files", str(CHUNK_FILES), "--out", directory, "--seed", str(1000 + i),
                                     "--split-points", str(LEAVES)], check=True, stdout=subprocess.PIPE, text=True).stdout
            with open(os.path.join(directory, "split-points.txt"), "w") as f:
                f.write(points)
            open(done, "w").close()
        return directory

    def run_size(self, rows):
        chunks = [self.chunk(i) for i in range(rows // CHUNK_ROWS)]
        # The keys are random letters in every chunk: the first chunk's split points cut them all evenly.
        split_points_file = os.path.join(chunks[0], "split-points.txt")
        split_points = open(split_points_file).read().splitlines()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        os.makedirs(self.spill)
        schema = os.path.join(self.run_dir, "schema.json")
        with open(schema, "w") as f:
            json.dump(run.SCHEMA, f)
        subprocess.run(self.cli("table", "create", "scale", "--schema", schema, "--split-points", split_points_file),
                       check=True, stdout=subprocess.DEVNULL)
        job = os.path.join(self.run_dir, "job.json")
        with open(job, "w") as f:
            json.dump({"id": f"scale-{rows}", "tableName": "scale", "files": chunks}, f)
        print(f"running {rows:,} rows", file=sys.stderr)
        rss, spill = run.TreeRss(), DirectoryPeak(self.spill)
        try:
            wall = run.run_checked(self.cli("run", job, "--quiet", "--memory-pool", self.args.pool, "--spill-dir", self.spill,
                                            *self.args.run_args.split()), rss)
        finally:
            peak_rss, peak_spill = rss.stop(), spill.stop()
        files = run.table_output(self.cli, "scale")
        count = verify.check_output(files, rows)
        print(f"  {wall:.2f} s, {count} files verified, peak RSS {peak_rss / 2**20:,.0f} MiB, "
              f"spill peak {peak_spill / 2**30:.2f} GiB", file=sys.stderr)
        shutil.rmtree(self.run_dir)
        return {"rows": rows, "wall": wall, "rss": peak_rss, "spill": peak_spill, "files": count}


def report(args, results):
    cores = os.cpu_count()
    base = results[0]["rows"] / results[0]["wall"] / cores
    lines = ["| rows | wall s | rows/s per core | smallest / this (rows/s per core) | peak RSS | spill disk peak | files verified |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        per_core = r["rows"] / r["wall"] / cores
        lines.append(f"| {r['rows']:,} | {r['wall']:.1f} | {per_core:,.0f} | {base / per_core:.2f} | "
                     f"{r['rss'] / 2**20:,.0f} MiB | {r['spill'] / 2**30:.2f} GiB | {r['files']} |")
    table = "\n".join(lines)
    print(table)
    last = results[-1]
    result = (f"RESULT scale rows={last['rows']} slowdown_vs_smallest={base / (last['rows'] / last['wall'] / cores):.3f} "
              f"peak_rss_mib={last['rss'] / 2**20:.0f} spill_gib={last['spill'] / 2**30:.2f}")
    print(result)
    if args.no_record:
        return
    section = (f"{MARK_START}\nLast `bench/scale` ({datetime.date.today()}): {run.machine()}; embedded, "
               f"`--memory-pool {args.pool}`, {LEAVES} leaves, release build; input in {CHUNK_ROWS:,}-row chunks of "
               f"{CHUNK_FILES} files. Every output verified (sorted files, rows inside their leaf, row count).\n\n"
               f"{table}\n\n`{result}`\n{MARK_END}")
    run.write_section(MARK_START, MARK_END, section)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--rows", default="20000000,200000000,1000000000",
                        help="comma-separated sizes, each a multiple of 20,000,000, smallest first")
    parser.add_argument("--pool", default="4GiB")
    parser.add_argument("--work", default="bench-run")
    parser.add_argument("--run-args", default="", help="more arguments for `bulk-import run`")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    sizes = [int(size) for size in args.rows.split(",")]
    if any(size <= 0 or size % CHUNK_ROWS for size in sizes):
        parser.error(f"every size must be a positive multiple of {CHUNK_ROWS:,}")
    scale = Scale(args)
    results = [scale.run_size(rows) for rows in sorted(sizes)]
    report(args, results)


if __name__ == "__main__":
    main()
