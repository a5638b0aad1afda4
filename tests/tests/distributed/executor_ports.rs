//! Executors started side by side with only the stock Ballista port flags both start, and a
//! port already taken is reported with its address and the flag that sets it.

use std::time::Duration;

use bulk_import_tests::cluster::{Process, free_port, http_status, wait_until, workspace_binary};

fn executor_args(scheduler_port: u16, port: u16, grpc_port: u16) -> Vec<String> {
    let ports = [port.to_string(), grpc_port.to_string(), scheduler_port.to_string()];
    ["--bind-host", "127.0.0.1", "--bind-port", &ports[0], "--bind-grpc-port", &ports[1]]
        .into_iter()
        .chain(["--scheduler-host", "127.0.0.1", "--scheduler-port", &ports[2], "--vcores", "1"])
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_with_stock_flags_start_and_a_taken_port_is_named() {
    let _one_at_a_time = crate::one_cluster_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let scheduler_port = free_port();
    let scheduler_args: Vec<String> =
        ["--bind-host", "127.0.0.1", "--bind-port", &scheduler_port.to_string(), "--min-ready-executors", "2"].map(String::from).to_vec();
    let mut scheduler = Process::start("scheduler", &workspace_binary("bulk-import-scheduler"), &scheduler_args, &[], &logs);
    let executor = |name: &str, port: u16, grpc: u16| {
        Process::start(name, &workspace_binary("bulk-import-executor"), &executor_args(scheduler_port, port, grpc), &[], &logs)
    };
    let mut first = executor("executor-1", free_port(), free_port());
    let mut second = executor("executor-2", free_port(), free_port());
    wait_until("both executors to register", Duration::from_mins(1), || {
        scheduler.assert_running();
        first.assert_running();
        second.assert_running();
        http_status(scheduler_port, "/readyz") == Some(200)
    });

    // A third on a port already taken fails at once, naming the address and the flag.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let mut third = executor("executor-3", busy_port, free_port());
    wait_until("the executor on a taken port to exit", Duration::from_secs(30), || third.has_exited());
    let log = third.log();
    assert!(log.contains(&format!("cannot bind 127.0.0.1:{busy_port} (--bind-port")), "{log}");
}
