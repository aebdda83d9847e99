//! The run's HTTP clients (HTTP steps and notifications; MCP over HTTP), made on first use
//! from one TLS configuration.
//!
//! Building a `reqwest::Client` loads the system's trust roots (the CA bundle and every file
//! of the certificate directory): milliseconds and a root store in memory each time. A run
//! loads them at most once, and a run that sends nothing over HTTP not at all.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Client, ClientBuilder, StatusCode, redirect};
use rustls_platform_verifier::ConfigVerifierExt;

/// How long a connection may take; a request's own bound (a step's timeout, a notification's
/// send) is set where it is made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Redirects an MCP request follows at most, as rmcp's own client.
const MCP_MAX_REDIRECTS: usize = 10;

#[derive(Default)]
pub struct SharedHttp {
    tls: OnceLock<Result<rustls::ClientConfig, String>>,
    steps: OnceLock<Result<Client, String>>,
    mcp: OnceLock<Result<Client, String>>,
}

impl SharedHttp {
    /// The client of HTTP steps and notifications.
    pub fn get(&self) -> Result<&Client, String> {
        self.steps
            .get_or_init(|| self.build(Client::builder()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The client of MCP over HTTP, set as rmcp's default client is: no idle connections
    /// kept (a reused connection whose last body was not read whole stalls on delayed ACKs),
    /// and only same-origin 307 and 308 redirects followed (the others would drop the
    /// JSON-RPC body or replay the session to another host).
    pub fn mcp(&self) -> Result<&Client, String> {
        self.mcp
            .get_or_init(|| {
                self.build(
                    Client::builder()
                        .pool_max_idle_per_host(0)
                        .redirect(same_origin_redirects()),
                )
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(&self, builder: ClientBuilder) -> Result<Client, String> {
        let tls = self
            .tls
            .get_or_init(|| {
                rustls::ClientConfig::with_platform_verifier()
                    .map_err(|e| format!("failed to load the system's trust roots: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        builder
            .tls_backend_preconfigured(tls.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("outpost-migrate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("failed to build the HTTP client: {e}"))
    }
}

fn same_origin_redirects() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !keeps_body || !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > MCP_MAX_REDIRECTS {
            attempt.error(format!("more than {MCP_MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}
