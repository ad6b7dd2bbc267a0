//! The test kit (`vpc-proxy-testkit`) under the name the integration tests import, and the
//! runtime-emulator helper, which stays here because it runs this package's own binary
//! (`CARGO_BIN_EXE_vpc-proxy` exists only for this package's tests).
#![allow(dead_code, unused_imports)]

pub mod emulator;

pub use vpc_proxy_testkit::*;
