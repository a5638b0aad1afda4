"""The distributed deployment the benchmarks measure, on 127.0.0.1: a scheduler, two executors of
half the cores each (their own work directories) and the job service in front of them. One
owner for all of `bench/`, so that a change to how these binaries start (such as the service
refusing to start without `--allow-source`) is made once, and so that a process that dies while
starting fails the benchmark, naming its log, instead of leaving it waiting forever."""

import os
import socket
import subprocess
import time
import urllib.request

START_TIMEOUT_S = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """`with LocalCluster(...) as service_url:` starts the processes and stops them on exit.

    `cli` is the `bulk-import` command with its global options (`--store`); `allow_sources` are
    the paths the service lets jobs read; `on_start(pid)` is told of every process started (the
    benchmarks' peak RSS sampler)."""

    def __init__(self, bin_dir, cli, run_dir, logs, allow_sources, cores, on_start=None):
        self.bin_dir, self.cli, self.run_dir, self.logs = bin_dir, cli, run_dir, logs
        self.allow_sources, self.vcores = allow_sources, max(1, cores // 2)
        self.on_start = on_start or (lambda pid: None)
        self.processes = []

    def _start(self, name, args):
        log_path = os.path.join(self.logs, f"{name}.log")
        with open(log_path, "w") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.on_start(process.pid)
        self.processes.append((name, log_path, process))
        return log_path

    def _wait_until(self, what, ready):
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            for name, log_path, process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for {what}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not within {START_TIMEOUT_S} s; logs in {self.logs}")
            time.sleep(0.05)

    def __enter__(self):
        os.makedirs(self.logs, exist_ok=True)
        try:
            scheduler = free_port()
            self._start("scheduler", [os.path.join(self.bin_dir, "bulk-import-scheduler"), "--bind-host", "127.0.0.1",
                                      "--bind-port", str(scheduler), "--min-ready-executors", "2"])
            for i in (1, 2):
                work_dir = os.path.join(self.run_dir, f"executor-{i}")
                os.makedirs(work_dir, exist_ok=True)
                self._start(f"executor-{i}", [os.path.join(self.bin_dir, "bulk-import-executor"), "--bind-host", "127.0.0.1",
                                              "--bind-port", str(free_port()), "--bind-grpc-port", str(free_port()),
                                              "--bind-health-port", str(free_port()), "--scheduler-host", "127.0.0.1",
                                              "--scheduler-port", str(scheduler), "--work-dir", work_dir, "--vcores", str(self.vcores)])

            def scheduler_ready():
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{scheduler}/readyz").status == 200
                except OSError:
                    return False

            self._wait_until("the scheduler to be ready with two executors", scheduler_ready)
            service = free_port()
            sources = [arg for source in self.allow_sources for arg in ("--allow-source", source)]
            service_log = self._start("service", [*self.cli, "serve", "--listen", f"127.0.0.1:{service}", *sources,
                                                  "--scheduler", f"http://127.0.0.1:{scheduler}",
                                                  "--parallelism", str(self.vcores * 2)])
            self._wait_until("the job service to listen", lambda: "listening" in open(service_log).read())
            return f"http://127.0.0.1:{service}"
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        for _, _, process in self.processes:
            process.terminate()
        for _, _, process in self.processes:
            process.wait()
        self.processes = []
