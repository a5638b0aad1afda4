//! The web view: pages of jobs and tables for people, on the service's HTTP port beside
//! `/metrics`. The server renders every page ([`maud`] escapes every value it is given) and
//! serves the one stylesheet and the one small script they link; nothing is fetched from
//! elsewhere, so the pages work offline. The pages only look: submitting and cancelling stay
//! with the gRPC API and its clients, which check the same tokens.
//!
//! ```text
//! /jobs?table=&status=     the jobs, newest first: status, duration, rows, rows/s
//! /jobs/{id}               one job: live progress, events on a timeline, rows per leaf, the
//!                          executed plan with its metrics, failure and rejection reasons
//! /jobs/{id}/progress      its progress as server-sent events (what keeps the page live)
//! /tables, /tables/{name}  the tables; a table's leaves with their files and rows
//! /login, /logout          a session for a token, where the service requires tokens
//! ```

mod chart;
mod jobs;
mod layout;
mod session;
mod tables;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use bulk_import_core::partition::Partition;
use maud::html;

use crate::driver::Driver;
use crate::service::queue::JobQueue;
pub use session::Sessions;
use session::Viewer;

/// What the pages read: the driver's store and tracker, and the queue's live progress.
pub struct WebState {
    pub driver: Arc<Driver>,
    pub queue: Arc<JobQueue>,
    pub sessions: Sessions,
}

/// The pages' routes.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/jobs") }))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::job))
        .route("/jobs/{id}/progress", get(jobs::progress))
        .route("/tables", get(tables::list))
        .route("/tables/{name}", get(tables::table))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/static/style.css", get(layout::style))
        .route("/static/live.js", get(layout::live_script))
        .layer(axum::middleware::map_response(guard_headers))
        .with_state(state)
}

/// Headers every page carries: only this server's own style, script and event stream; no
/// framing; no caching of pages that may show what a token let someone see.
async fn guard_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Viewer {
    /// The token name to show as signed in, if any.
    fn name(&self) -> Option<&str> {
        self.0.as_ref().map(|c| c.0.as_str())
    }
}

/// A leaf as people read it: the range of its first row key.
fn leaf_label(leaf: &Partition) -> String {
    match leaf.region.ranges.first() {
        Some(range) => {
            let max = range.max.as_ref().map_or_else(|| "∞".to_string(), ToString::to_string);
            let more = if leaf.region.ranges.len() > 1 { " …" } else { "" };
            format!("[{}, {max}){more}", range.min)
        }
        None => leaf.id.clone(),
    }
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] bulk_import_core::Error),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!("web view: {self}");
        }
        let body = html! { h1 { (status.canonical_reason().unwrap_or("Error")) } p.error #page-error { (self) } };
        (status, layout::page("Error", None, &body)).into_response()
    }
}
