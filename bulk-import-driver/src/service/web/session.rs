//! Who is looking: where the service requires tokens, a page is shown only to a viewer who
//! presents one, either in an `Authorization: Bearer` header (scripts, proxies) or through the
//! login form, which opens a session held in an `HttpOnly`, `SameSite=Strict` cookie. A token
//! never travels in a URL. A session keeps the token it was opened with and checks it again on
//! every request, so a token taken out of the file (and SIGHUP) ends its sessions too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebState;
use super::layout::page;
use crate::service::auth::{Caller, TokenAuth, bearer_token};

/// The session cookie's name.
const COOKIE: &str = "bulk_import_session";
/// How long a session lasts after its login.
const SESSION_LENGTH: Duration = Duration::from_hours(8);
/// At most this many sessions are open; the oldest are closed first.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    token: String,
    opened: Instant,
}

/// The login sessions of the web view, and the tokens that open them.
pub struct Sessions {
    auth: Option<TokenAuth>,
    open: Mutex<HashMap<String, Session>>,
}

/// Who is looking at a page: the token's name, or `None` when the service takes no tokens.
pub struct Viewer(pub Option<Caller>);

impl Sessions {
    pub fn new(auth: Option<TokenAuth>) -> Self {
        Sessions { auth, open: Mutex::default() }
    }

    pub fn required(&self) -> bool {
        self.auth.is_some()
    }

    /// The viewer a request's header or session cookie names; `None` if tokens are required
    /// and neither holds a valid one.
    fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        let Some(auth) = &self.auth else { return Some(Viewer(None)) };
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
        if let Some(token) = bearer {
            return auth.caller(token.as_bytes()).map(|c| Viewer(Some(c)));
        }
        let id = session_cookie(headers)?;
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let session = open.get(id).filter(|s| s.opened.elapsed() < SESSION_LENGTH)?;
        auth.caller(session.token.as_bytes()).map(|c| Viewer(Some(c)))
    }

    /// Opens a session for `token`; its id, or `None` for a token that is not valid.
    fn open(&self, token: &str) -> Option<String> {
        let auth = self.auth.as_ref()?;
        auth.caller(token.as_bytes())?;
        // Two version-4 UUIDs: 244 random bits from the operating system's generator.
        let id = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, s| s.opened.elapsed() < SESSION_LENGTH);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, s)| s.opened).map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), Session { token: token.to_string(), opened: Instant::now() });
        Some(id)
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(id) = session_cookie(headers) {
            self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        }
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

impl FromRequestParts<Arc<WebState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<WebState>) -> Result<Self, Response> {
        state.sessions.viewer(&parts.headers).ok_or_else(|| {
            if parts.headers.contains_key(header::AUTHORIZATION) {
                (StatusCode::UNAUTHORIZED, "the bearer token is not valid").into_response()
            } else {
                Redirect::to("/login").into_response()
            }
        })
    }
}

fn login_page(message: Option<&str>) -> Markup {
    page(
        "Log in",
        None,
        &html! {
            h1 { "Log in" }
            p { "This service requires a token. It is kept in a session of this browser, never in a URL." }
            @if let Some(message) = message { p.error #login-error { (message) } }
            form method="post" action="/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    )
}

pub async fn login_form(State(state): State<Arc<WebState>>) -> Response {
    if state.sessions.required() { login_page(None).into_response() } else { Redirect::to("/jobs").into_response() }
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

pub async fn login(State(state): State<Arc<WebState>>, Form(login): Form<Login>) -> Response {
    if !state.sessions.required() {
        return Redirect::to("/jobs").into_response();
    }
    match state.sessions.open(login.token.trim()) {
        Some(id) => {
            let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", SESSION_LENGTH.as_secs());
            ([(header::SET_COOKIE, cookie)], Redirect::to("/jobs")).into_response()
        }
        None => (StatusCode::UNAUTHORIZED, login_page(Some("That token is not valid."))).into_response(),
    }
}

pub async fn logout(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    state.sessions.close(&headers);
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), v.parse().unwrap())).collect()
    }

    #[test]
    fn a_session_lasts_only_as_long_as_its_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "ops 0123456789abcdef0123\n").unwrap();
        let auth = TokenAuth::load(&file).unwrap();
        let sessions = Sessions::new(Some(auth.clone()));
        assert!(sessions.viewer(&HeaderMap::new()).is_none());
        assert!(sessions.open("0123456789abcdef0124").is_none());
        let id = sessions.open("0123456789abcdef0123").unwrap();
        let with_cookie = headers(&[(header::COOKIE, &format!("theme=dark; {COOKIE}={id}"))]);
        assert_eq!(sessions.viewer(&with_cookie).unwrap().0, Some(Caller("ops".into())));
        assert!(sessions.viewer(&headers(&[(header::COOKIE, &format!("{COOKIE}=guessed"))])).is_none());
        let bearer = headers(&[(header::AUTHORIZATION, "Bearer 0123456789abcdef0123")]);
        assert_eq!(sessions.viewer(&bearer).unwrap().0, Some(Caller("ops".into())));
        // The token is withdrawn: its session ends with it.
        std::fs::write(&file, "other fedcba9876543210fedc\n").unwrap();
        auth.reload().unwrap();
        assert!(sessions.viewer(&with_cookie).is_none());
        // Logging out closes the session.
        let id = sessions.open("fedcba9876543210fedc").unwrap();
        let with_cookie = headers(&[(header::COOKIE, &format!("{COOKIE}={id}"))]);
        assert!(sessions.viewer(&with_cookie).is_some());
        sessions.close(&with_cookie);
        assert!(sessions.viewer(&with_cookie).is_none());
        // Without tokens, everyone is let in, unnamed.
        assert!(Sessions::new(None).viewer(&HeaderMap::new()).unwrap().0.is_none());
    }
}
