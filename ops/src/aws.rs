//! What every AWS-calling command shares: the SDK config (credentials, region, profile and
//! endpoint found the usual way, HTTPS through rustls with ring) and an SDK error as the one
//! sentence an operator reads.
//!
//! It must never call an AWS API itself, and never let an SDK debug dump reach the operator
//! (`ServiceError(ServiceError { … })`): a failure is what failed, the AWS error code and
//! its message, or the transport's reason when the service never answered.

use std::fmt;

use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};

/// The AWS config the usual way (environment, profile, SSO, IMDS...), with an explicit
/// profile, region and endpoint where given.
pub async fn sdk_config(
    profile: Option<&str>,
    region: Option<&str>,
    endpoint_url: Option<&str>,
) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An SDK error as one sentence: `what failed: Code: message`, or the transport's reason
/// (unreachable endpoint, no credentials) when the service never answered.
pub fn sentence<E, R>(what: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{what} failed: {code}: {message}"),
                // No metadata (a stand-in that sends none): the error's own sentence.
                _ => format!("{what} failed: {e}"),
            }
        }
        _ => {
            // The innermost cause is the sentence a person needs ("no credentials", "connection
            // refused"); the layers above it only repeat that a request was dispatched.
            let mut source: &dyn std::error::Error = err;
            while let Some(next) = source.source() {
                source = next;
            }
            format!("{what} failed: {source}")
        }
    }
}
