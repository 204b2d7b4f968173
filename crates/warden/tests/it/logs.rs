//! The text log of `warden serve` as an operator keeps it, written to a file: plain text
//! without colour codes, and request ids a caller cannot use to forge fields.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::{eventually, warden};

/// `warden serve --dev` with its standard error written to `log`; returns the child and
/// the address it listens on.
fn serve_logging_to(dir: &std::path::Path, log: &std::path::Path) -> (Child, String) {
    let mut cmd = warden(dir);
    cmd.args([
        "serve",
        "--dev",
        "--data-dir",
        "devdata",
        "--listen",
        "127.0.0.1:0",
    ])
    // What an operator's shell may not set: colour would be the default.
    .env_remove("NO_COLOR")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(std::fs::File::create(log).unwrap());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    let address = loop {
        line.clear();
        let read = stdout.read_line(&mut line).unwrap();
        if let Some(url) = line.split("listening on http://").nth(1) {
            break url.trim().to_owned();
        }
        assert!(
            read > 0 && Instant::now() < deadline,
            "warden serve did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    // Keep reading standard output so the server never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    (child, address)
}

/// `GET path` with an `X-Request-Id` header (sent as raw bytes); returns the response head.
fn get_with_request_id(address: &str, path: &str, request_id: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split("\r\n\r\n").next().unwrap().to_owned()
}

fn response_request_id(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-request-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no X-Request-Id in {head}"))
}

/// Issue: a client's `X-Request-Id` was echoed and logged unquoted, so a caller could forge
/// fields in the text log; text logs carried colour codes when written to a file.
#[test]
fn a_log_file_has_no_colour_codes_and_no_forged_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("warden.log");
    let (mut child, address) = serve_logging_to(dir.path(), &log);

    let forged = "forged status=200 path=/v1/admin";
    let head = get_with_request_id(&address, "/healthz", forged);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let replaced = response_request_id(&head);
    assert_ne!(replaced, forged);
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    // A safe id is kept, and logged in quotes.
    let head = get_with_request_id(&address, "/healthz", "trace-42.a_b");
    assert_eq!(response_request_id(&head), "trace-42.a_b");

    // The log is written as requests finish: wait until both are in, then stop.
    let text = eventually(
        "both requests in the log",
        || std::fs::read_to_string(&log).unwrap(),
        |text| text.contains("trace-42.a_b") && text.contains(&replaced),
    );
    let _ = child.kill();
    let _ = child.wait();

    let bytes = std::fs::read(&log).unwrap();
    assert!(!bytes.contains(&0x1b), "escape bytes in a log file: {text}");
    assert!(
        !text.contains("forged"),
        "the forged id reached the log: {text}"
    );
    assert!(
        text.contains(&format!("request_id=\"{replaced}\"")),
        "{text}"
    );
    assert!(text.contains("request_id=\"trace-42.a_b\""), "{text}");
}
