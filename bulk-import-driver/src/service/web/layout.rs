//! The frame of every page: its head, the navigation, and the stylesheet and script it links,
//! which the server itself serves (nothing comes from elsewhere, so the pages work offline).

use axum::http::header;
use axum::response::IntoResponse;
use bulk_import_core::tracker::JobStatus;
use maud::{DOCTYPE, Markup, html};

const STYLE: &str = include_str!("assets/style.css");
const LIVE_SCRIPT: &str = include_str!("assets/live.js");

/// A whole page: `viewer` is the token name a logged-in viewer is known by.
pub fn page(title: &str, viewer: Option<&str>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · bulk import" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/live.js" defer {}
            }
            body {
                nav {
                    a.brand href="/jobs" { "bulk import" }
                    a href="/jobs" { "Jobs" }
                    a href="/tables" { "Tables" }
                    @if let Some(name) = viewer {
                        form.logout method="post" action="/logout" {
                            span { "signed in as " (name) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A status as a coloured label; `id` names the one a live page updates.
pub fn status_badge(status: JobStatus, id: Option<&str>) -> Markup {
    let class = match status {
        JobStatus::Finished => "finished",
        JobStatus::Failed | JobStatus::Rejected => "failed",
        JobStatus::InProgress | JobStatus::Uncommitted => "running",
        JobStatus::Accepted => "waiting",
    };
    html! { span id=[id] class={ "status " (class) } data-status=(status) { (status) } }
}

pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

pub async fn live_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], LIVE_SCRIPT)
}
