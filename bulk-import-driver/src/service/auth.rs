//! Who may call the job service: bearer tokens, each with a name, read from a file that SIGHUP
//! rereads. A request without a valid token is refused with UNAUTHENTICATED before it reaches
//! the service, so it records nothing; an accepted request carries its token's name
//! ([`Caller`]) to the service, which records it with the jobs it submits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::{Context, bail};
use subtle::ConstantTimeEq;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// One token and the name it is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedToken {
    pub name: String,
    pub token: String,
}

/// The name of the token a request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub String);

/// The shortest token taken: shorter ones are guessable.
const MIN_TOKEN_LENGTH: usize = 16;

/// Parses a token file: one `NAME TOKEN` a line; blank lines and `#` comments are skipped.
pub fn parse_tokens(text: &str) -> anyhow::Result<Vec<NamedToken>> {
    let mut tokens: Vec<NamedToken> = Vec::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, token] = fields[..] else { bail!("line {number}: expected NAME TOKEN") };
        if token.len() < MIN_TOKEN_LENGTH {
            bail!("line {number}: the token of {name} is shorter than {MIN_TOKEN_LENGTH} characters");
        }
        if tokens.iter().any(|t| t.name == name) {
            bail!("line {number}: the name {name} is given twice");
        }
        tokens.push(NamedToken { name: name.to_string(), token: token.to_string() });
    }
    if tokens.is_empty() {
        bail!("the file holds no token");
    }
    Ok(tokens)
}

/// The tokens the service takes, shared with the interceptor of every connection.
#[derive(Clone)]
pub struct TokenAuth {
    file: PathBuf,
    tokens: Arc<RwLock<Vec<NamedToken>>>,
}

impl TokenAuth {
    pub fn load(file: &Path) -> anyhow::Result<Self> {
        let tokens = read_tokens(file)?;
        Ok(TokenAuth { file: file.to_path_buf(), tokens: Arc::new(RwLock::new(tokens)) })
    }

    /// Rereads the file; on any error the tokens in force stay.
    pub fn reload(&self) -> anyhow::Result<usize> {
        let tokens = read_tokens(&self.file)?;
        let count = tokens.len();
        *self.tokens.write().unwrap_or_else(PoisonError::into_inner) = tokens;
        Ok(count)
    }

    /// Rereads the file on every SIGHUP, for as long as the service runs.
    pub fn reload_on_hangup(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).context("installing the SIGHUP handler")?;
        let auth = self.clone();
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match auth.reload() {
                    Ok(count) => tracing::info!("SIGHUP: {count} tokens read from {}", auth.file.display()),
                    Err(e) => tracing::error!("SIGHUP: keeping the tokens in force: {e:#}"),
                }
            }
        }))
    }

    /// The name of the token `presented` matches. Every token is compared, each in constant
    /// time, so that the time taken tells nothing of how much of a token was right.
    pub fn caller(&self, presented: &[u8]) -> Option<Caller> {
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        let mut found = None;
        for token in tokens.iter() {
            if bool::from(token.token.as_bytes().ct_eq(presented)) {
                found = Some(Caller(token.name.clone()));
            }
        }
        found
    }
}

fn read_tokens(file: &Path) -> anyhow::Result<Vec<NamedToken>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read the token file {}", file.display()))?;
    parse_tokens(&text).with_context(|| format!("token file {}", file.display()))
}

/// The token of an `authorization: Bearer TOKEN` header's value.
pub fn bearer_token(header: &str) -> Option<&str> {
    header.strip_prefix("Bearer ").map(str::trim)
}

/// Checks the `authorization: Bearer TOKEN` header of every request, when tokens are required.
#[derive(Clone)]
pub struct Authenticate(pub Option<TokenAuth>);

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let Some(auth) = &self.0 else { return Ok(request) };
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let Some(presented) = header.and_then(bearer_token) else {
            return Err(Status::unauthenticated("this service requires a bearer token: authorization: Bearer TOKEN"));
        };
        let Some(caller) = auth.caller(presented.as_bytes()) else {
            return Err(Status::unauthenticated("the bearer token is not valid"));
        };
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_name_their_tokens() {
        let tokens = parse_tokens("# team tokens\n\nanalytics  0123456789abcdef0123\nloader 'fedcba9876543210fedc'\n").unwrap();
        assert_eq!(tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["analytics", "loader"]);
        assert!(parse_tokens("only-one-field").is_err());
        assert!(parse_tokens("a short").is_err());
        assert!(parse_tokens("a 0123456789abcdef\na fedcba9876543210").is_err());
        assert!(parse_tokens("# nothing\n").is_err());
    }

    #[test]
    fn requests_need_a_valid_token_and_carry_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(&file, "analytics 0123456789abcdef0123\n").unwrap();
        let auth = TokenAuth::load(&file).unwrap();
        let mut interceptor = Authenticate(Some(auth.clone()));
        let with = |header: Option<&str>| {
            let mut request = Request::new(());
            if let Some(h) = header {
                request.metadata_mut().insert("authorization", h.parse().unwrap());
            }
            request
        };
        assert_eq!(interceptor.call(with(None)).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(interceptor.call(with(Some("Bearer 0123456789abcdef0124"))).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(interceptor.call(with(Some("Basic 0123456789abcdef0123"))).unwrap_err().code(), tonic::Code::Unauthenticated);
        let accepted = interceptor.call(with(Some("Bearer 0123456789abcdef0123"))).unwrap();
        assert_eq!(accepted.extensions().get::<Caller>(), Some(&Caller("analytics".into())));
        // A reload takes a new token and drops the old one; a broken file changes nothing.
        std::fs::write(&file, "loader fedcba9876543210fedc\n").unwrap();
        assert_eq!(auth.reload().unwrap(), 1);
        assert!(auth.caller(b"0123456789abcdef0123").is_none());
        assert_eq!(auth.caller(b"fedcba9876543210fedc"), Some(Caller("loader".into())));
        std::fs::write(&file, "broken").unwrap();
        assert!(auth.reload().is_err());
        assert_eq!(auth.caller(b"fedcba9876543210fedc"), Some(Caller("loader".into())));
        // Without tokens every request passes, unnamed.
        assert!(Authenticate(None).call(with(None)).unwrap().extensions().get::<Caller>().is_none());
    }
}
