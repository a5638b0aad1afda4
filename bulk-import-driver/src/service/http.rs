//! The job service's HTTP port: Prometheus metrics on `/metrics` (open, as health is, to the
//! scraper), and the web view's pages ([`super::web`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::queue::JobQueue;
use crate::service::web::{self, WebState};

/// The version of the text exposition format served.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `address` and serves until the returned task is aborted.
pub async fn serve(address: SocketAddr, queue: Arc<JobQueue>, web: WebState) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address} (--http-listen)"))?;
    let local = listener.local_addr()?;
    tracing::info!("metrics on http://{local}/metrics, jobs on http://{local}/jobs");
    let router = Router::new().route("/metrics", get(metrics)).with_state(queue).merge(web::router(Arc::new(web)));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("the HTTP server stopped: {e}");
        }
    }))
}

async fn metrics(State(queue): State<Arc<JobQueue>>) -> impl IntoResponse {
    let running = queue.running_jobs();
    let queued = queue.active_jobs().saturating_sub(running);
    ([(header::CONTENT_TYPE, EXPOSITION)], queue.metrics().render(queued, running))
}
