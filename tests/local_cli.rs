//! The binary as a person first meets it: started outside Lambda it points at `local`;
//! `vpc-proxy local` takes `--listen` with a host name, `--v2` and `--stage`, prints exactly
//! Lambda's lines when piped and one readable line per request on a terminal (a pseudo
//! terminal from `script`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_vpc-proxy");

/// A running `vpc-proxy local`, killed on drop.
struct Local {
    child: Child,
    port: u16,
    stdout: mpsc::Receiver<String>,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `script` and the proxy it runs on a pseudo terminal, stopped on drop. SIGKILL would stop
/// `script` alone and leave the proxy running in its own session; on SIGTERM `script` passes
/// the signal to its child and exits with it.
struct Terminal(Child);

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading after the receiver is gone: a closed pipe would make the child's
        // next eprintln! fail.
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The port in the first `listening on http://HOST:PORT` line.
fn port_from(rx: &mpsc::Receiver<String>, host: &str) -> u16 {
    let needle = format!("listening on http://{host}:");
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {needle:?} line"));
        if let Some(rest) = line.split(&needle).nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            return digits.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

fn start(args: &[&str]) -> Local {
    let mut child = Command::new(BIN)
        .arg("local")
        .args(args)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = lines(child.stderr.take().unwrap_or_else(|| panic!("no stderr")));
    let stdout = lines(child.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let port = port_from(&stderr, "localhost");
    Local {
        child,
        port,
        stdout,
    }
}

/// One HTTP/1.1 request; the status and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("port {port} {path}: {e}; read so far {text:?}"));
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

/// Stdout lines until one contains `needle` (all of them, in order).
fn until(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains(needle)) {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {needle:?} in {seen:#?}"),
        }
    }
    seen
}

#[test]
fn outside_lambda_the_binary_says_so_and_shows_the_local_command() {
    let out = Command::new(BIN)
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("inside Lambda"), "{text}");
    assert!(text.contains("AWS_LAMBDA_RUNTIME_API"), "{text}");
    assert!(text.contains("vpc-proxy local"), "{text}");
    assert!(!text.contains("not a host:port"), "{text}");
}

#[test]
fn piped_output_is_exactly_the_lambda_lines_and_listen_takes_a_name() {
    let local = start(&["--listen", "localhost:0"]);
    let (status, body) = get(local.port, "/hello?name=world");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"path\": \"/hello\""), "{body}");
    let seen = until(&local.stdout, "\"UpstreamLatency\"");
    for line in &seen {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed.is_object(), "{line}");
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("\"message\":\"invocation\"")
                && l.contains("\"decision\":\"allow\"")),
        "{seen:#?}"
    );
}

#[test]
fn stage_and_v2_events_reach_the_backend_with_the_stage_stripped() {
    for args in [
        &["--listen", "localhost:0", "--stage", "prod"][..],
        &["--listen", "localhost:0", "--stage", "prod", "--v2"][..],
    ] {
        let local = start(args);
        let (status, body) = get(local.port, "/prod/a/b?x=1");
        assert_eq!(status, 200, "{args:?}: {body}");
        assert!(body.contains("\"path\": \"/a/b\""), "{args:?}: {body}");
        assert!(body.contains("\"query\": \"x=1\""), "{args:?}: {body}");
        let (status, body) = get(local.port, "/other/a");
        assert_eq!(status, 403, "{args:?}: {body}");
        assert_eq!(body, "{\"message\":\"Forbidden\"}");
    }
}

#[test]
fn on_a_terminal_each_request_is_one_readable_line() {
    // `script` gives the process a pseudo terminal, as a person's shell would.
    let probe = Command::new("script").arg("--version").output();
    assert!(
        probe.is_ok(),
        "this test needs `script` (util-linux, Debian package bsdutils) to provide a terminal"
    );
    // `exec`, so that the proxy is `script`'s own child and gets the SIGTERM it forwards.
    let child = Command::new("script")
        .args(["-qfec"])
        .arg(format!("exec {BIN} local --listen localhost:0"))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut terminal = Terminal(child);
    // Under `script`, stdout and stderr share the terminal.
    let out = lines(
        terminal
            .0
            .stdout
            .take()
            .unwrap_or_else(|| panic!("no stdout")),
    );
    let port = port_from(&out, "localhost");
    let (status, _) = get(port, "/hello");
    assert_eq!(status, 200);
    let seen = until(&out, "GET /hello -> 200 allow");
    drop(terminal);
    let request = seen
        .iter()
        .find(|l| l.contains("GET /hello -> 200 allow"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    // Latency rounded for people: `in 1.23 ms`, never a float's last digits.
    let ms = request
        .split(" in ")
        .nth(1)
        .and_then(|r| r.trim().strip_suffix("ms"))
        .unwrap_or_else(|| panic!("{request}"));
    assert!(ms.trim().len() <= 6, "{request}");
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("_aws") || l.starts_with('{')),
        "EMF or JSON on a terminal: {seen:#?}"
    );
}
