//! The shared home of vpc-proxy's test fixtures, for its integration tests, benches and fuzz
//! targets: `backends` (loopback HTTP(S) and raw TCP backends), `pki` (certificates made at
//! test time), `events` (the fixture API Gateway events and invocations, built with the
//! library's own builders), `proxy` (a proxy wired from a variable map with its telemetry
//! captured), `emf` (reading captured telemetry back and checking EMF), and `url_oracle` (what
//! a URL that stays on the target is).
//!
//! Everything is also re-exported at the root, so a test says `use vpc_proxy_testkit::*`. It is
//! test code: it panics on a broken fixture, and it must never be a dependency of the binary.

#[cfg(feature = "backends")]
pub mod backends;
pub mod emf;
pub mod events;
#[cfg(feature = "pki")]
pub mod pki;
pub mod proxy;
pub mod url_oracle;

#[cfg(feature = "backends")]
pub use backends::*;
pub use emf::*;
pub use events::*;
#[cfg(feature = "pki")]
pub use pki::*;
pub use proxy::*;
