"""The side-by-side benchmark behind `bench/run`: the same generated input imported into a
table of LEAVES leaves by this project (embedded, then distributed), by PySpark running Sleeper's
default algorithm, and by DuckDB, plus the copy floor; every output verified before its time
counts; a table, a RESULT line, and the table written into BENCHMARKS.md."""

import argparse
import base64
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

import verify
from local_cluster import LocalCluster

HERE = os.path.dirname(os.path.abspath(__file__))
MARK_START, MARK_END = "<!-- bench/run: start -->", "<!-- bench/run: end -->"
SCHEMA = {"rowKeyFields": [{"name": "key", "type": "StringType"}],
          "sortKeyFields": [{"name": "timestamp", "type": "LongType"}],
          "valueFields": [{"name": "value", "type": "StringType"}]}


class TreeRss:
    """Peak resident memory of process trees, summed across processes, sampled every 50 ms.

    Reading every process's `stat` to find the trees' members cost about 3 ms of CPU a scan on
    this machine, 6% of a core at 20 scans a second, taken from the two cores the measured job
    runs on. The trees' members are found again every tenth sample; in between only their own
    `statm` is read."""

    SAMPLE_S, DISCOVER_EVERY = 0.05, 10

    def __init__(self):
        self.roots, self.peak, self._stop = set(), 0, threading.Event()
        self._members, self._page = set(), os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def watch(self, pid):
        self.roots.add(pid)

    def _discover(self):
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
        members, stack = set(), list(self.roots)
        while stack:
            pid = stack.pop()
            if pid not in members:
                members.add(pid)
                stack.extend(children.get(pid, []))
        return members

    def _sample(self):
        samples = 0
        while not self._stop.wait(self.SAMPLE_S):
            if samples % self.DISCOVER_EVERY == 0 or not self.roots <= self._members:
                self._members = self._discover()
            samples += 1
            total = 0
            for pid in self._members:
                try:
                    with open(f"/proc/{pid}/statm") as f:
                        total += int(f.read().split()[1]) * self._page
                except (OSError, IndexError, ValueError):
                    continue
            self.peak = max(self.peak, total)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def run_checked(args, rss, log=None, **kwargs):
    """Runs a command to completion, its process tree's memory sampled; returns its wall time."""
    start = time.monotonic()
    process = subprocess.Popen(args, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else None, **kwargs)
    rss.watch(process.pid)
    if process.wait() != 0:
        sys.exit(f"{' '.join(map(str, args))} failed with exit code {process.returncode}")
    return time.monotonic() - start


def table_output(cli, table):
    """Every file the table references, with its partition's key range; `cli(*args)` is a
    `bulk-import --store STORE ARGS` command line."""
    def json_of(*args):
        return json.loads(subprocess.run(cli(*args), check=True, stdout=subprocess.PIPE, text=True).stdout)

    ranges = {}
    for partition in json_of("table", "partitions", table, "--json"):
        region = partition["region"]
        decode = (lambda v: None if v is None else base64.b64decode(v).decode()) if region.get("stringsBase64Encoded") \
            else (lambda v: v)
        low, high = decode(region["key"]["min"]), decode(region["key"].get("max"))
        ranges[partition["partitionId"]] = (low or None, high)
    files = json_of("table", "files", table, "--json")
    return [(f["filename"].removeprefix("file://"), *ranges[f["partitionId"]]) for f in files]


class Bench:
    def __init__(self, args):
        self.args, self.bin = args, args.bin_dir
        self.cores = os.cpu_count()
        self.work = os.path.abspath(args.work)
        self.input = os.path.join(self.work, f"input-{args.rows}-{args.files}")
        self.split_points_file = os.path.join(self.input, f"split-points-{args.leaves}.txt")
        self.run_dir = os.path.join(self.work, "run")
        self.store = os.path.join(self.run_dir, "store")
        self.logs = os.path.join(self.run_dir, "logs")

    def cli(self, *args):
        return [os.path.join(self.bin, "bulk-import"), "--store", self.store, *args]

    def prepare(self):
        if not os.path.exists(self.split_points_file):
            shutil.rmtree(self.input, ignore_errors=True)
            print(f"generating {self.args.rows} rows in {self.args.files} files", file=sys.stderr)
            points = subprocess.run([os.path.join(self.bin, "bulk-import"), "generate", "--rows", str(self.args.rows),
                                     "--files", str(self.args.files), "--out", self.input,
                                     "--split-points", str(self.args.leaves)],
                                    check=True, stdout=subprocess.PIPE, text=True).stdout
            with open(self.split_points_file + ".tmp", "w") as f:
                f.write(points)
            os.rename(self.split_points_file + ".tmp", self.split_points_file)
        self.split_points = open(self.split_points_file).read().splitlines()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        os.makedirs(self.logs)
        schema = os.path.join(self.run_dir, "schema.json")
        with open(schema, "w") as f:
            json.dump(SCHEMA, f)
        for table in ("embedded", "distributed"):
            subprocess.run(self.cli("table", "create", table, "--schema", schema, "--split-points", self.split_points_file),
                           check=True, stdout=subprocess.DEVNULL)
            with open(os.path.join(self.run_dir, f"job-{table}.json"), "w") as f:
                json.dump({"id": f"bench-{table}", "tableName": table, "files": [self.input]}, f)

    def table_output(self, table):
        return table_output(self.cli, table)

    def leaf_directories(self, root, prefix):
        """Files under `root/<prefix><leaf>/`, with their leaf's key range."""
        out = []
        for directory in os.listdir(root):
            if directory.startswith(prefix):
                leaf = int(directory[len(prefix):])
                low, high = verify.leaf_range(self.split_points, leaf)
                for name in os.listdir(os.path.join(root, directory)):
                    if name.endswith(".parquet"):
                        out.append((os.path.join(root, directory, name), low, high))
        return out

    def embedded(self, rss):
        wall = run_checked(self.cli("run", os.path.join(self.run_dir, "job-embedded.json"), "--quiet",
                                    *shlex.split(self.args.run_args)), rss)
        return wall, self.table_output("embedded")

    def distributed(self, rss):
        cluster = LocalCluster(self.bin, self.cli(), self.run_dir, self.logs, [self.input], self.cores, on_start=rss.watch)
        with cluster as service:
            wall = run_checked(self.cli("submit", os.path.join(self.run_dir, "job-distributed.json"),
                                        "--server", service, "--wait", "--quiet"), rss)
        return wall, self.table_output("distributed")

    def python_system(self, script, rss, out_name, prefix):
        out = os.path.join(self.run_dir, out_name)
        with open(os.path.join(self.logs, f"{out_name}.log"), "w") as log:
            wall = run_checked([sys.executable, os.path.join(HERE, script), self.input, out, self.split_points_file,
                                str(self.cores)], rss, log=log, env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
        return wall, self.leaf_directories(out, prefix)

    def spark(self, rss):
        return self.python_system("spark_local_sort.py", rss, "spark", "__sleeper_leaf=")

    def duckdb(self, rss):
        return self.python_system("duckdb_local_sort.py", rss, "duckdb", "leaf=")

    def copy_floor(self, rss):
        out = os.path.join(self.run_dir, "copy-floor")
        wall = run_checked(self.cli("copy-floor", "--table", "embedded", "--out", out, self.input), rss)
        # Unsorted by design: only the row count is checked.
        return wall, [(os.path.join(out, name), None, None) for name in os.listdir(out)]


SHAPES = {
    "standard": {"rows": 20_000_000, "files": 10, "leaves": 256},
    "wide": {"rows": 10_000_000, "files": 10_000, "leaves": 10_000},
}

SYSTEMS = [
    ("embedded", "this project, embedded (`bulk-import run`)", Bench.embedded, True),
    ("distributed", "this project, scheduler + 2 executors + job service", Bench.distributed, True),
    ("spark", "PySpark local mode, Sleeper's local sort", Bench.spark, True),
    ("duckdb", "DuckDB, one sorted COPY per leaf", Bench.duckdb, True),
    ("copy-floor", "copy floor: read and write once, no route or sort", Bench.copy_floor, False),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="standard",
                        help="standard: 20M rows in 10 files into 256 leaves; wide: 10M rows in 10,000 files into 10,000 "
                             "leaves, with the embedded run of the same rows in 10 files into 256 leaves beside it")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--leaves", type=int)
    parser.add_argument("--files", type=int)
    parser.add_argument("--work", default="bench-run")
    parser.add_argument("--only", help="comma-separated systems to run (default: all)")
    parser.add_argument("--run-args", default="", help="more arguments for the embedded `bulk-import run`")
    parser.add_argument("--no-record", action="store_true", help="do not write BENCHMARKS.md")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of every chosen system (and of the wide shape's narrow reference), one after "
                             "another in each round; the table gives each system's median and spread")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for name, value in SHAPES[args.shape].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    names = [name for name, *_ in SYSTEMS]
    chosen = args.only.split(",") if args.only else names
    if unknown := sorted(set(chosen) - set(names)):
        parser.error(f"unknown systems {', '.join(unknown)}; choose from {', '.join(names)}")
    bench = Bench(args)
    rounds = {}
    for round_number in range(1, args.repeat + 1):
        if args.repeat > 1:
            print(f"round {round_number} of {args.repeat}", file=sys.stderr)
        # Fresh tables each round: a job's rows go into an empty table every time.
        bench.prepare()
        for name, label, run, sorted_output in SYSTEMS:
            if name in chosen:
                rounds.setdefault(name, []).append(run_system(bench, name, label, run, sorted_output))
        if args.shape == "wide" and "embedded" in chosen:
            rounds.setdefault("narrow", []).append(narrow_reference(args))
    report(bench, {name: summary(runs) for name, runs in rounds.items()})


def run_system(bench, name, label, run, sorted_output):
    """One run of a system, its output verified before its time counts."""
    print(f"running {name}", file=sys.stderr)
    rss = TreeRss()
    try:
        wall, files = run(bench, rss)
    finally:
        peak = rss.stop()
    if sorted_output:
        count = verify.check_output(files, bench.args.rows)
    else:
        count = verify.check_row_count([path for path, *_ in files], bench.args.rows)
    print(f"  {wall:.2f} s, {count} files verified, peak RSS {peak / 2**20:.0f} MiB", file=sys.stderr)
    return {"label": label, "wall": wall, "peak": peak, "files": count}


def summary(runs):
    """A system's runs as one row: the median wall time (the lower middle of an even count), the
    spread of all of them, and the highest peak RSS."""
    walls = sorted(r["wall"] for r in runs)
    return {**runs[-1], "wall": walls[(len(walls) - 1) // 2], "walls": walls, "peak": max(r["peak"] for r in runs)}


def narrow_reference(args):
    """The embedded run of the same rows in 10 files into 256 leaves: what the wide shape's time
    is measured against."""
    narrow = argparse.Namespace(**{**vars(args), "files": 10, "leaves": 256, "work": os.path.join(args.work, "narrow")})
    bench = Bench(narrow)
    bench.prepare()
    return run_system(bench, "embedded, 10 files into 256 leaves", "this project, embedded, the same rows in 10 files into 256 leaves",
                      Bench.embedded, True)


def machine():
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    model = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    return f"{os.cpu_count()} cores ({model.group(1).strip() if model else platform.machine()}), {memory_kib / 2**20:.0f} GiB memory"


def filesystem(path):
    """The type of the filesystem holding `path` (e.g. ext4, tmpfs): per-file costs differ a lot between them."""
    path, best = os.path.realpath(path), ("", "unknown")
    for line in open("/proc/mounts"):
        _, mount, kind = line.split()[:3]
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1]


def report(bench, results):
    rows, cores = bench.args.rows, bench.cores
    embedded = results.get("embedded", {}).get("wall")
    repeated = bench.args.repeat > 1
    wall_heading, spread_heading = ("median wall s", " runs, s |") if repeated else ("wall s", "")
    lines = [f"| system | {wall_heading} | rows/s | rows/s per core | peak RSS | wall / embedded | files |{spread_heading}",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if repeated else "")]
    for r in results.values():
        ratio = f"{r['wall'] / embedded:.2f}" if embedded else "—"
        spread = f" {' / '.join(f'{w:.2f}' for w in r['walls'])} |" if repeated else ""
        lines.append(f"| {r['label']} | {r['wall']:.2f} | {rows / r['wall']:,.0f} | {rows / r['wall'] / cores:,.0f} | "
                     f"{r['peak'] / 2**20:,.0f} MiB | {ratio} | {r['files']} |{spread}")
    table = "\n".join(lines)
    print(table)

    def ratio(other, inverse=False):
        if not embedded or other not in results:
            return "nan"
        value = results[other]["wall"] / embedded
        return f"{(1 / value if inverse else value):.3f}"

    per_core = f"{rows / embedded / cores:.0f}" if embedded else "nan"
    result = (f"RESULT rows={rows} embedded_rows_per_s_per_core={per_core} vs_spark={ratio('spark')} "
              f"vs_duckdb={ratio('duckdb')} vs_copy_floor={ratio('copy-floor', inverse=True)} "
              f"distributed_over_embedded={ratio('distributed')}")
    if "narrow" in results:
        result += f" shape=wide wide_over_narrow={embedded / results['narrow']['wall']:.3f}" if embedded else ""
    if repeated:
        result += f" repeat={bench.args.repeat}"
    if not bench.args.no_record:
        record(bench, table, result)
    print(result)


def versions():
    import duckdb
    import pyspark
    java = subprocess.run(["java", "-version"], stderr=subprocess.PIPE, text=True).stderr.splitlines()
    return f"PySpark {pyspark.__version__} on {java[0] if java else 'java'}, DuckDB {duckdb.__version__}"


def record(bench, table, result):
    a = bench.args
    rounds = f"; {a.repeat} rounds, each system's median" if a.repeat > 1 else ""
    section = (f"{MARK_START}\nLast `bench/run` ({datetime.date.today()}{rounds}): {machine()}; {a.rows:,} rows in {a.files} "
               f"files, {a.leaves} leaves, release build; {versions()}; input and outputs under `{a.work}` ({filesystem(a.work)}). "
               f"Every output verified (sorted files, rows inside their leaf, row count) before its time counts.\n\n{table}\n\n"
               f"`{result}`\n{MARK_END}")
    start, end = (MARK_START, MARK_END) if a.shape == "standard" else (MARK_START.replace("start", f"{a.shape} start"),
                                                                        MARK_END.replace("end", f"{a.shape} end"))
    write_section(start, end, section.replace(MARK_START, start).replace(MARK_END, end))


def write_section(start, end, section):
    """Puts `section` (which begins with `start` and ends with `end`) into BENCHMARKS.md in place
    of the one between the same marks, or at its end."""
    path = os.path.join(HERE, "..", "BENCHMARKS.md")
    text = open(path).read()
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
