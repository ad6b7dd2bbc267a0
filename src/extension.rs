//! The AWS Parameters and Secrets Lambda Extension's localhost HTTP interface: one plain
//! HTTP/1.1 GET per read, answered in the shapes of SSM `GetParameter` and Secrets Manager
//! `GetSecretValue`.
//!
//! It owns the request (path, query, the `X-Aws-Parameters-Secrets-Token` header), the
//! parsing of the two answer shapes and the sorting of failures into `unreachable` (no
//! connection, timeout, a 5xx) and `rejected` (a 4xx). It must never put a secret value or
//! the session token in an error, a log line or a `Debug` output: a secret's text lives only
//! in `SecretText`, whose `Debug` hides it, and errors carry fixed phrases and status codes,
//! never text from the answer.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::config::SessionToken;

/// How long one read may take, connection included. The extension answers from its cache in
/// well under a millisecond and from AWS in tens of milliseconds; a read that takes longer
/// than this is a network path that does not work (a VPC without NAT or endpoints).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read: a Secrets Manager value is at most 64 KB, JSON-escaped.
const MAX_ANSWER_BYTES: usize = 512 * 1024;
const TOKEN_HEADER: &str = "x-aws-parameters-secrets-token";

/// Why a read gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No connection, timeout, or a 5xx from the extension.
    #[error("extension unreachable: {0}")]
    Unreachable(&'static str),
    /// The extension answered 4xx: missing, access denied, throttled.
    #[error("extension refused the read with status {0}")]
    Rejected(u16),
    /// A 200 whose body is not the documented shape.
    #[error("extension answer is not a {0} document")]
    Malformed(&'static str),
}

/// A parameter as `GetParameter` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// `Parameter.Version`, as text.
    pub version: String,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    pub value: String,
}

/// A secret's text. `Debug` shows its length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub(crate) String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText(<{} bytes redacted>)", self.0.len())
    }
}

/// A secret as `GetSecretValue` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// `VersionId`.
    pub version: String,
    /// `SecretString`; `None` for a binary secret (`SecretBinary`), which cannot hold headers.
    pub text: Option<SecretText>,
}

/// The extension on `localhost:port`, called with the session token.
#[derive(Clone)]
pub struct Extension {
    port: u16,
    token: SessionToken,
    timeout: Duration,
}

impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extension")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct GetParameterAnswer {
    #[serde(rename = "Parameter")]
    parameter: ParameterShape,
}

#[derive(Deserialize)]
struct ParameterShape {
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Version")]
    version: u64,
    #[serde(rename = "Type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct GetSecretValueAnswer {
    #[serde(rename = "VersionId")]
    version_id: String,
    #[serde(rename = "SecretString", default)]
    secret_string: Option<String>,
}

impl Extension {
    pub fn new(port: u16, token: SessionToken) -> Extension {
        Extension {
            port,
            token,
            timeout: READ_TIMEOUT,
        }
    }

    /// `GET /systemsmanager/parameters/get?name=…&withDecryption=true` (a SecureString comes
    /// back decrypted; the flag is ignored for the other types).
    pub async fn parameter(&self, name: &str) -> Result<Parameter, ReadError> {
        let path = format!(
            "/systemsmanager/parameters/get?name={}&withDecryption=true",
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        );
        let body = self.get(&path).await?;
        let answer: GetParameterAnswer =
            serde_json::from_slice(&body).map_err(|_| ReadError::Malformed("GetParameter"))?;
        Ok(Parameter {
            version: answer.parameter.version.to_string(),
            kind: answer.parameter.kind,
            value: answer.parameter.value,
        })
    }

    /// `GET /secretsmanager/get?secretId=…`. A body that does not parse is reported with a
    /// fixed phrase: serde's messages quote the offending value, which may be the secret.
    pub async fn secret(&self, id: &str) -> Result<Secret, ReadError> {
        let path = format!(
            "/secretsmanager/get?secretId={}",
            utf8_percent_encode(id, NON_ALPHANUMERIC)
        );
        let body = self.get(&path).await?;
        let answer: GetSecretValueAnswer =
            serde_json::from_slice(&body).map_err(|_| ReadError::Malformed("GetSecretValue"))?;
        Ok(Secret {
            version: answer.version_id,
            text: answer.secret_string.map(SecretText),
        })
    }

    async fn get(&self, path: &str) -> Result<Bytes, ReadError> {
        match tokio::time::timeout(self.timeout, self.exchange(path)).await {
            Ok(result) => result,
            Err(_) => Err(ReadError::Unreachable("timed out")),
        }
    }

    async fn exchange(&self, path: &str) -> Result<Bytes, ReadError> {
        let stream = TcpStream::connect(("localhost", self.port))
            .await
            .map_err(|_| ReadError::Unreachable("connection refused"))?;
        // Nagle would hold the request back for the extension's delayed ACK.
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ReadError::Unreachable("handshake failed"))?;
        // The connection is driven here and dropped with the read: one connection per read,
        // every PROXY_CONFIG_REFRESH_S at most, is not worth a pool.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut token = http::HeaderValue::from_str(&self.token.0)
            .map_err(|_| ReadError::Rejected(StatusCode::BAD_REQUEST.as_u16()))?;
        token.set_sensitive(true);
        let request = Request::get(path)
            .header(http::header::HOST, format!("localhost:{}", self.port))
            .header(TOKEN_HEADER, token)
            .body(Empty::<Bytes>::new())
            .map_err(|_| ReadError::Unreachable("request not built"))?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|_| ReadError::Unreachable("connection closed"))?;
            let status = response.status();
            if status.is_server_error() {
                return Err(ReadError::Unreachable("extension answered 5xx"));
            }
            if !status.is_success() {
                return Err(ReadError::Rejected(status.as_u16()));
            }
            Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .map_err(|_| ReadError::Unreachable("answer cut short or too large"))
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret_and_the_token() {
        let secret = Secret {
            version: "v1".into(),
            text: Some(SecretText("X-Key: s3cret".into())),
        };
        let text = format!("{secret:?}");
        assert!(!text.contains("s3cret"), "{text}");
        let ext = Extension::new(2773, SessionToken("tok-123".into()));
        assert!(!format!("{ext:?}").contains("tok-123"));
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let ext = Extension::new(port, SessionToken("t".into()));
        assert!(matches!(
            ext.parameter("p").await,
            Err(ReadError::Unreachable(_))
        ));
    }
}
