//! `/healthz` and `/readyz`, as Ballista's own executor binary serves them (its server is
//! behind a feature that also pulls in that binary's allocator and CLI): liveness is the
//! process answering; readiness is the last heartbeat to the scheduler having succeeded.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ballista_executor::health::ExecutorHealth;
use tokio::task::JoinHandle;

pub async fn serve(address: SocketAddr, health: ExecutorHealth) -> anyhow::Result<JoinHandle<()>> {
    let router = Router::new().route("/healthz", get(|| async { (StatusCode::OK, "ok\n") })).route("/readyz", get(ready)).with_state(health);
    let listener =
        tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot bind {address} (--bind-health-port, with --bind-host)"))?;
    tracing::info!("health (/healthz, /readyz) on {}", listener.local_addr()?);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("health server stopped: {e}");
        }
    }))
}

async fn ready(State(health): State<ExecutorHealth>) -> (StatusCode, &'static str) {
    if health.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: no successful heartbeat to the scheduler yet\n")
    }
}
