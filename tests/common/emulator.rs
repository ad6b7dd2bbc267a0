//! The real Lambda runtime emulator (`cargo lambda watch --only-lambda-apis`, installed into
//! .venv by scripts/test.sh) and the built `vpc-proxy` binary polling it.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_vpc-proxy");

/// Kills the child when the test ends, however it ends.
pub struct Running(pub Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Hands each line of a child's output to `each` on its own thread, and every line to the
/// returned channel, which `wait_for` reads.
pub fn lines(
    stream: impl std::io::Read + Send + 'static,
    mut each: impl FnMut(&str) + Send + 'static,
) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            each(&line);
            let _ = tx.send(line);
        }
    });
    rx
}

/// Blocks until a line contains `needle`. The limit only turns a hang into a failure.
pub fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) {
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(e) => panic!("never saw {needle:?}: {e}"),
        }
    }
}

fn cargo_lambda() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return Some(PathBuf::from(path));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/cargo-lambda");
    venv.exists().then_some(venv)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `port` accepts a connection on a socket `process` itself listens on; false
/// once it has exited, or when what accepted is someone else's listener (the port was taken
/// after `free_port` let it go). The limit only turns a hang into a failure.
fn accepting(process: &mut Running, port: u16) -> bool {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let connected = TcpStream::connect(("127.0.0.1", port)).is_ok();
        let exited = process.0.try_wait().ok().flatten().is_some();
        if exited || connected {
            return !exited && listens_on(process.pid(), port);
        }
        assert!(
            Instant::now() < give_up,
            "the emulator never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Whether process `pid` holds the IPv4 socket listening on `port`: the socket's inode from
/// /proc/net/tcp (state 0A is LISTEN) among the process's descriptors.
fn listens_on(pid: u32, port: u16) -> bool {
    let local = format!(":{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let sockets: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(1)?.ends_with(&local) && *fields.get(3)? == "0A";
            let inode = fields.get(9)?;
            listening.then(|| format!("socket:[{inode}]"))
        })
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| sockets.iter().any(|s| target.as_os_str() == s.as_str()))
    })
}

/// A running emulator.
pub struct Emulator {
    pub port: u16,
    _process: Running,
}

impl Emulator {
    /// Starts the emulator, or returns None (after saying so) when cargo-lambda is not
    /// installed and `VPC_PROXY_REQUIRE_EMULATOR` is unset; with it set, absence fails.
    pub fn start() -> Option<Emulator> {
        let Some(cargo_lambda) = cargo_lambda() else {
            assert!(
                std::env::var_os("VPC_PROXY_REQUIRE_EMULATOR").is_none(),
                "cargo-lambda not found: scripts/test.sh installs it into .venv"
            );
            eprintln!("skipped: cargo-lambda not installed (run scripts/test.sh)");
            return None;
        };
        // cargo-lambda logs "starting Runtime server" before it binds and nothing after, so
        // its output cannot say it listens: readiness is the port accepting a connection on
        // its socket. The port chosen here is free only until cargo-lambda binds it; when it
        // was taken meanwhile, the emulator is started again on another.
        for _ in 0..5 {
            let port = free_port();
            let mut process = Command::new("sh")
                .arg("-c")
                // cargo-lambda logs to stdout or stderr depending on its version: take both.
                .arg(format!(
                    "exec '{}' lambda watch --only-lambda-apis -A 127.0.0.1 -P {port} 2>&1",
                    cargo_lambda.display()
                ))
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdout(Stdio::piped())
                .spawn()
                .expect("start cargo lambda watch");
            let output = process.stdout.take().unwrap();
            let mut process = Running(process);
            // The reader thread drains the pipe so the emulator never blocks on it; dropping
            // the receiver keeps nothing of what it reads.
            drop(lines(output, |_| {}));
            if accepting(&mut process, port) {
                return Some(Emulator {
                    port,
                    _process: process,
                });
            }
        }
        panic!("five emulators in a row never listened on a port of their own");
    }

    /// Starts the function against this emulator with `vars` (and nothing else from the
    /// test's environment but PATH), hands its stdout lines to `each`, and returns once it
    /// has logged its start-up line.
    pub fn function(
        &self,
        vars: &[(&str, &str)],
        each: impl FnMut(&str) + Send + 'static,
    ) -> (Running, mpsc::Receiver<String>) {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut process = command.spawn().expect("start vpc-proxy");
        let output = process.stdout.take().unwrap();
        let process = Running(process);
        let rx = lines(output, each);
        wait_for(&rx, "vpc-proxy starting");
        (process, rx)
    }

    /// A client that invokes the function through the emulator, as API Gateway would.
    pub fn invoker(&self) -> Invoker {
        Invoker {
            client: reqwest::Client::builder()
                .tls_backend_preconfigured(vpc_proxy::tls::plain_http_config().unwrap())
                .build()
                .unwrap(),
            url: format!(
                "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
                self.port
            ),
        }
    }
}

#[derive(Clone)]
pub struct Invoker {
    client: reqwest::Client,
    url: String,
}

impl Invoker {
    /// One synchronous invocation; the function's answer (or the emulator's error document).
    pub async fn invoke(&self, event: &Value) -> Value {
        let response = self
            .client
            .post(&self.url)
            .body(event.to_string())
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("invoke");
        let text = response.text().await.expect("response body");
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}
