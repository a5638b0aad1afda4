//! Real processes on 127.0.0.1 for the distributed tests: a Ballista scheduler, executors with
//! their own work directories, the job service, and moto's S3 server. Each is killed when its
//! handle is dropped, so a failing test leaves nothing running.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of this workspace, built next to the test executables (`cargo build --bins`, which
/// `scripts/test` runs first).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: build the binaries first (`cargo build --workspace --bins`)", path.display());
    path
}

/// A file of this crate's sources, `relative` to its manifest.
///
/// The directory comes from the `CARGO_MANIFEST_DIR` that `cargo test` sets when it runs a test,
/// not from the one compiled in: a target directory shared by two checkouts (`.ci/run` keeps one
/// outside the clone) holds test binaries that either checkout may have built.
pub fn source_path(relative: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    dir.join(relative)
}

/// A tool of the Python environment `scripts/setup` creates.
pub fn venv_binary(name: &str) -> PathBuf {
    let venv = std::env::var_os("BULK_IMPORT_VENV")
        .map_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/bulk-import-venv"), PathBuf::from);
    let path = venv.join("bin").join(name);
    assert!(path.exists(), "{} is missing: run scripts/setup", path.display());
    path
}

/// A port free on 127.0.0.1 now.
///
/// Never the same port twice in one test process: the kernel may hand a port just released to
/// the next bind, and two processes of one cluster told the same port would fight over it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> = std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A child process, killed on drop, its output in a log file.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn start(name: &str, program: &Path, args: &[String], env: &[(String, String)], log_dir: &Path) -> Process {
        std::fs::create_dir_all(log_dir).unwrap();
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .env("BULK_IMPORT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Process { name: name.to_string(), child, log }
    }

    /// Kills the process at once (SIGKILL): no clean shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Fails the test with the process's log if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.log());
        }
    }
}

impl Drop for Process {
    /// Kills the process; when a test is failing, shows the end of its log first, as the test's
    /// temporary directory goes with the test.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // How it ended says what no log line can: a signal (13 is SIGPIPE, 9 SIGKILL) or a code.
            let state = match self.child.try_wait() {
                Ok(Some(status)) => format!("had exited: {status}"),
                _ => "was running".to_string(),
            };
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- {} ({state}), last lines of its log:\n{}", self.name, tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        self.kill();
    }
}

/// Waits until `check` holds, failing with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status code of `GET path` on 127.0.0.1:port, if it answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A scheduler and two executors, each executor with its own work directory, so that shuffle
/// data crosses the network between them.
pub struct Cluster {
    pub scheduler: Process,
    pub scheduler_port: u16,
    /// Where the scheduler serves Ballista's metrics.
    pub scheduler_metrics_port: u16,
    pub executors: Vec<Process>,
    /// How the scheduler was started, to start it again.
    scheduler_args: Vec<String>,
    env: Vec<(String, String)>,
    logs: PathBuf,
}

impl Cluster {
    /// `env` reaches every process (S3 settings, for example). A killed executor is noticed
    /// within 5 s rather than minutes.
    pub fn start(dir: &Path, env: &[(String, String)]) -> Cluster {
        Self::start_with_executor_timeout(dir, env, 5)
    }

    /// As `start`, with the scheduler noticing a silent executor after `executor_timeout`
    /// seconds.
    pub fn start_with_executor_timeout(dir: &Path, env: &[(String, String)], executor_timeout: u64) -> Cluster {
        let logs = dir.join("logs");
        let scheduler_port = free_port();
        let scheduler_metrics_port = free_port();
        let metrics_listen = format!("127.0.0.1:{scheduler_metrics_port}");
        let scheduler_args: Vec<String> = [
            "--bind-host",
            "127.0.0.1",
            "--bind-port",
            &scheduler_port.to_string(),
            "--executor-timeout-seconds",
            &executor_timeout.to_string(),
            "--expire-dead-executor-interval-seconds",
            "1",
            "--min-ready-executors",
            "2",
            "--metrics-listen",
            &metrics_listen,
        ]
        .map(String::from)
        .to_vec();
        let scheduler = Process::start("scheduler", &workspace_binary("bulk-import-scheduler"), &scheduler_args, env, &logs);
        let mut executors = Vec::new();
        for i in 1..=2 {
            let work_dir = dir.join(format!("executor-{i}-work"));
            std::fs::create_dir_all(&work_dir).unwrap();
            let args: Vec<String> = [
                "--bind-host",
                "127.0.0.1",
                "--bind-port",
                &free_port().to_string(),
                "--bind-grpc-port",
                &free_port().to_string(),
                "--bind-health-port",
                &free_port().to_string(),
                "--scheduler-host",
                "127.0.0.1",
                "--scheduler-port",
                &scheduler_port.to_string(),
                "--work-dir",
                work_dir.to_str().unwrap(),
                "--vcores",
                "2",
                "--memory-pool-size",
                &(512u64 << 20).to_string(),
                "--executor-heartbeat-interval-seconds",
                "1",
            ]
            .map(String::from)
            .to_vec();
            executors.push(Process::start(&format!("executor-{i}"), &workspace_binary("bulk-import-executor"), &args, env, &logs));
        }
        let mut cluster = Cluster { scheduler, scheduler_port, scheduler_metrics_port, executors, scheduler_args, env: env.to_vec(), logs };
        cluster.wait_until_ready();
        cluster
    }

    /// Waits for the scheduler to be ready with both executors registered.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_mins(1);
        while http_status(self.scheduler_port, "/readyz") != Some(200) {
            self.scheduler.assert_running();
            if Instant::now() > deadline {
                let logs: Vec<String> = self.executors.iter().map(Process::log).collect();
                panic!(
                    "timed out waiting for the scheduler to be ready with two executors\nscheduler:\n{}\nexecutors:\n{}",
                    self.scheduler.log(),
                    logs.join("\n---\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the scheduler (SIGKILL, so everything it held in memory is lost) and starts it
    /// again on the same ports; returns once the executors have registered with it again.
    pub fn restart_scheduler(&mut self) {
        self.scheduler.kill();
        self.scheduler =
            Process::start("scheduler-restarted", &workspace_binary("bulk-import-scheduler"), &self.scheduler_args, &self.env, &self.logs);
        self.wait_until_ready();
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.scheduler_port)
    }
}

/// The job service (`bulk-import serve`).
pub struct Service {
    pub process: Process,
    pub port: u16,
    /// Where `/metrics` is served.
    pub http_port: u16,
}

impl Service {
    /// Serves the store at `store` on a free port, on `scheduler` (or embedded without one).
    pub fn start(dir: &Path, name: &str, store: &str, scheduler: Option<&str>, extra: &[&str], env: &[(String, String)]) -> Service {
        Self::start_on(dir, name, free_port(), store, scheduler, extra, env)
    }

    /// As `start`, on a given port: a restarted service keeps its address.
    pub fn start_on(dir: &Path, name: &str, port: u16, store: &str, scheduler: Option<&str>, extra: &[&str], env: &[(String, String)]) -> Service {
        let http_port = free_port();
        let mut args: Vec<String> = vec!["--store".into(), store.into(), "serve".into(), "--listen".into(), format!("127.0.0.1:{port}")];
        args.extend(["--http-listen".into(), format!("127.0.0.1:{http_port}")]);
        if let Some(scheduler) = scheduler {
            args.extend(["--scheduler".into(), scheduler.into(), "--parallelism".into(), "4".into()]);
        } else {
            args.extend(["--parallelism".into(), "2".into(), "--memory-pool".into(), "512MiB".into()]);
        }
        args.extend(extra.iter().map(std::string::ToString::to_string));
        // A service must be told what jobs may read; tests of that say so themselves.
        if !extra.iter().any(|a| a.starts_with("--allow-source")) {
            args.push("--allow-any-source".into());
        }
        let mut process = Process::start(name, &workspace_binary("bulk-import"), &args, env, &dir.join("logs"));
        wait_until("the job service to listen", Duration::from_mins(1), || {
            process.assert_running();
            process.log().contains("bulk-import service listening on")
        });
        Service { process, port, http_port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// moto's S3 server, with the buckets given.
pub struct Moto {
    pub process: Process,
    pub endpoint: String,
}

impl Moto {
    pub fn start(dir: &Path, buckets: &[&str]) -> Moto {
        let port = free_port();
        let args = vec!["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()];
        let mut process = Process::start("moto", &venv_binary("moto_server"), &args, &[], &dir.join("logs"));
        wait_until("moto to listen", Duration::from_mins(1), || {
            process.assert_running();
            port_open(port)
        });
        let endpoint = format!("http://127.0.0.1:{port}");
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\nfor b in {buckets:?}:\n    s3.create_bucket(Bucket=b)\n"
        );
        let status = Command::new(venv_binary("python")).args(["-c", &script]).status().unwrap();
        assert!(status.success(), "could not create buckets {buckets:?}");
        Moto { process, endpoint }
    }

    /// How this process reaches the server.
    pub fn s3_options(&self) -> bulk_import_core::store::S3Options {
        bulk_import_core::store::S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            allow_http: Some(true),
            ..bulk_import_core::store::S3Options::default()
        }
    }

    /// The environment that points every process at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }
}

/// `tests/faults/s3_fault_proxy.py` in front of an endpoint (moto's), injecting faults on a fixed
/// schedule from `seed`; its totals of each fault are read with [`FaultProxy::stats`].
pub struct FaultProxy {
    pub process: Process,
    pub port: u16,
    stats: PathBuf,
}

impl FaultProxy {
    /// `lose_once`: comma-separated parts of paths whose first PUT surely loses its answer.
    pub fn start(dir: &Path, upstream: &str, seed: u64, lose_once: &str) -> FaultProxy {
        let port = free_port();
        let stats = dir.join(format!("fault-proxy-{port}.json"));
        let script = source_path("faults/s3_fault_proxy.py");
        let args = [
            script.to_str().unwrap().to_string(),
            port.to_string(),
            upstream.to_string(),
            seed.to_string(),
            stats.to_str().unwrap().to_string(),
            lose_once.into(),
        ];
        let mut process = Process::start("s3-fault-proxy", &venv_binary("python"), &args, &[], &dir.join("logs"));
        wait_until("the fault proxy to listen", Duration::from_secs(30), || {
            process.assert_running();
            port_open(port)
        });
        FaultProxy { process, port, stats }
    }

    /// `env` with every AWS client pointed at the proxy.
    pub fn env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: Vec<_> = env.iter().filter(|(key, _)| key != "AWS_ENDPOINT_URL").cloned().collect();
        env.push(("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{}", self.port)));
        env
    }

    /// How many requests met each fault, and how many passed.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        serde_json::from_str(&std::fs::read_to_string(&self.stats).unwrap_or_else(|_| "{}".into())).unwrap()
    }
}

/// Parses exposition text with `prometheus_client.parser`; every sample as `name{labels}`.
const PARSE_EXPOSITION: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(samples))
"#;

/// Scrapes `/metrics` on 127.0.0.1:`port` and parses it as Prometheus would.
pub fn scrape_metrics(port: u16) -> BTreeMap<String, f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let mut parser = Command::new(venv_binary("python"))
        .args(["-c", PARSE_EXPOSITION])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(parser.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus parser refused the exposition:\n{body}");
    serde_json::from_slice(&out.stdout).unwrap()
}
