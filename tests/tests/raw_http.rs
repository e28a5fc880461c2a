//! The local host over raw TCP, so that no client library tidies a request
//! up first: hostile `Host` and `X-Forwarded-*` headers, odd targets, `HEAD`,
//! declared and chunked bodies past 16 KiB, and a bounded fuzz pass
//! (`SSPR_FUZZ_CASES` / 4 requests, 500 by default, a fixed seed, every one
//! of them run).
//!
//! The release build aborts on panic, so a panic anywhere in the server is a
//! dead host: a panic hook records every panic on the server's threads and
//! each test fails on one, even where the debug build would have unwound.

use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use serde_json::Value;
use sspr_tests::{TestApp, PASSWORD};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Record the panics of the runtime's worker threads (the server's), beside
/// the usual report. A test's own assertions run on its own thread.
fn watch_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            if thread.name().is_some_and(|n| n.starts_with("tokio")) {
                if let Ok(mut p) = PANICS.lock() {
                    p.push(info.to_string());
                }
            }
            usual(info);
        }));
    });
}

fn panics() -> Vec<String> {
    PANICS.lock().map(|p| p.clone()).unwrap_or_default()
}

/// An answer as it came off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Whatever came after the answer on the connection.
    after: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Send `request` as it is, then read the answer: `None` when the server
/// closed the connection without one. Panics when no answer comes in `wait`
/// (a hung request is a failure too). With `close` the write side is shut
/// after the request, so a server waiting for more body sees the end of it.
async fn send(base: &str, request: &[u8], close: bool, wait: Duration) -> Option<Raw> {
    let mut s = connect(base).await;
    exchange(&mut s, request, close, wait).await
}

async fn connect(base: &str) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .expect("the local host accepts connections")
}

/// [`send`] on a connection of the caller's, which stays open after the answer.
async fn exchange(
    s: &mut tokio::net::TcpStream,
    request: &[u8],
    close: bool,
    wait: Duration,
) -> Option<Raw> {
    // The server may answer and close before it has read all of a request
    // (a refused body): a failed write is not the test's concern.
    let _ = s.write_all(request).await;
    if close {
        let _ = s.shutdown().await;
    }
    let head = request.starts_with(b"HEAD ");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if parse(&buf, head).is_some_and(|r| complete(&r)) {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within {wait:?} to {:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)])
    );
    parse(&buf, head)
}

/// The final (non-1xx) answer in `buf`, if its head is there; an answer to
/// `HEAD` has no body, whatever its `Content-Length`.
fn parse(mut buf: &[u8], to_head: bool) -> Option<Raw> {
    loop {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let text = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let rest = &buf[end + 4..];
        if (100..200).contains(&status) {
            buf = rest;
            continue;
        }
        let mut r = Raw {
            status,
            headers,
            body: rest.to_vec(),
            after: Vec::new(),
        };
        // What follows the answer (the server's refusal of bytes it read as a
        // next request) is not part of it.
        let len = r.header("content-length").and_then(|l| l.parse().ok());
        if let Some(len) = if to_head { Some(0) } else { len } {
            r.after = r.body.split_off(len.min(r.body.len()));
        }
        return Some(r);
    }
}

/// Whether the whole body of a `Content-Length` answer is in.
fn complete(r: &Raw) -> bool {
    r.header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        .is_some_and(|l| r.body.len() >= l)
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

const WAIT: Duration = Duration::from_secs(5);

/// The host answers an ordinary request: it is alive.
async fn assert_alive(base: &str) {
    let r = send(
        base,
        &request(
            "GET",
            "/.well-known/jwks.json",
            &[("Host", "localhost"), ("Connection", "close")],
            b"",
        ),
        false,
        WAIT,
    )
    .await
    .expect("an answer");
    assert_eq!(r.status, 200, "the host no longer serves");
}

fn assert_problem(r: &Raw, status: u16, code: &str, what: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(r.json()["code"], code, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_host_header_does_not_take_the_host_down() {
    watch_panics();
    let app = TestApp::spawn().await;
    let jwks = "/.well-known/jwks.json";
    let close = ("Connection", "close");
    for host in [
        "127.0.0.1:99999",
        "x:y",
        "a b",
        "[::1",
        "",
        "a,b",
        "[::1]:0",
    ] {
        let r = send(
            &app.url,
            &request("GET", jwks, &[("Host", host), close], b""),
            false,
            WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("Host {host:?}: the connection was dropped"));
        // The client's Host never reaches the event: the route is served.
        assert_eq!(r.status, 200, "Host {host:?}");
    }
    for proto in ["", "a b", "javascript", "https, http"] {
        let r = send(
            &app.url,
            &request(
                "GET",
                jwks,
                &[("Host", "localhost"), ("X-Forwarded-Proto", proto), close],
                b"",
            ),
            false,
            WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("X-Forwarded-Proto {proto:?}: the connection was dropped"));
        assert_eq!(r.status, 200, "X-Forwarded-Proto {proto:?}");
    }
    let r = send(
        &app.url,
        &request("OPTIONS", "*", &[("Host", "127.0.0.1:8080"), close], b""),
        false,
        WAIT,
    )
    .await
    .expect("OPTIONS *: an answer");
    assert_problem(&r, 400, "invalid_request", "OPTIONS *");
    let long = format!("/{}", "a".repeat(65_533));
    let r = send(
        &app.url,
        &request("GET", &long, &[("Host", "localhost"), close], b""),
        false,
        WAIT,
    )
    .await
    .expect("a 65,534-byte target: an answer");
    assert_problem(&r, 414, "uri_too_long", "a 65,534-byte target");
    // Just over the limit, with a route in front: refused the same way.
    let over = format!("/v1/codes?{}", "q".repeat(sspr_core::http::MAX_TARGET));
    let r = send(
        &app.url,
        &request("GET", &over, &[("Host", "localhost"), close], b""),
        false,
        WAIT,
    )
    .await
    .expect("a long query: an answer");
    assert_problem(&r, 414, "uri_too_long", "a long query");

    assert_alive(&app.url).await;
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_like_get_without_a_body() {
    watch_panics();
    let app = TestApp::spawn().await;
    app.confirmed_user("hedda").await;
    let token = app.access_token("hedda", PASSWORD).await;
    let bearer = format!("Bearer {token}");
    let with_token = [
        ("Host", "localhost"),
        ("Authorization", bearer.as_str()),
        ("Connection", "close"),
    ];
    let anonymous = [("Host", "localhost"), ("Connection", "close")];
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Headers, u16); 3] = [
        ("/.well-known/jwks.json", &anonymous, 200),
        ("/v1/me", &with_token, 200),
        ("/v1/me", &anonymous, 401),
    ];
    for (path, headers, status) in cases {
        let get = send(&app.url, &request("GET", path, headers, b""), false, WAIT)
            .await
            .expect("GET: an answer");
        let head = send(&app.url, &request("HEAD", path, headers, b""), false, WAIT)
            .await
            .expect("HEAD: an answer");
        assert_eq!((get.status, head.status), (status, status), "{path}");
        assert!(!get.body.is_empty(), "{path}: GET has a body");
        assert_eq!(
            (head.body.as_slice(), head.after.as_slice()),
            (&b""[..], &b""[..]),
            "{path}: HEAD has none"
        );
        // RFC 9110, 8.6: the length the GET body has.
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "{path}"
        );
        let names = |r: &Raw| {
            let mut h: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            h.sort();
            h
        };
        assert_eq!(names(&head), names(&get), "{path}: the same headers");
    }
    // Where GET is allowed, a 405 says HEAD is too.
    let r = send(
        &app.url,
        &request(
            "POST",
            "/v1/me",
            &[
                ("Host", "localhost"),
                ("Content-Length", "0"),
                ("Connection", "close"),
            ],
            b"",
        ),
        false,
        WAIT,
    )
    .await
    .expect("an answer");
    assert_problem(&r, 405, "method_not_allowed", "POST /v1/me");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // HEAD is no way around a POST route's method.
    let r = send(
        &app.url,
        &request("HEAD", "/v1/token", &anonymous, b""),
        false,
        WAIT,
    )
    .await
    .expect("an answer");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_content_length_over_16_kib_is_refused_before_the_body() {
    watch_panics();
    let app = TestApp::spawn().await;
    // Only the head is sent, and the connection stays open: the answer must
    // not wait for the 20,000 bytes it announces (none come, so an answer at
    // all shows it did not).
    let mut conn = connect(&app.url).await;
    let r = exchange(
        &mut conn,
        &request(
            "POST",
            "/v1/register",
            &[
                ("Host", "localhost"),
                ("Content-Type", "application/json"),
                ("Content-Length", "20000"),
            ],
            b"",
        ),
        false,
        WAIT,
    )
    .await
    .expect("an answer");
    assert_problem(&r, 413, "payload_too_large", "Content-Length: 20000");
    // The unread body must not be taken for a next request: the answer says
    // so, and the server closes the connection while the client's side is
    // still open.
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.after.is_empty(), "after the answer: {:?}", r.after);
    let mut rest = [0u8; 64];
    match tokio::time::timeout(WAIT, conn.read(&mut rest)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {} // closed (or reset)
        Ok(Ok(n)) => panic!(
            "more after the answer: {:?}",
            String::from_utf8_lossy(&rest[..n])
        ),
        Err(_) => panic!("the server kept the connection open, waiting for the body"),
    }
    // With Expect: 100-continue, no 100 is sent for a body that is refused.
    let mut s = tokio::net::TcpStream::connect(app.url.trim_start_matches("http://"))
        .await
        .expect("connect");
    s.write_all(&request(
        "POST",
        "/v1/codes",
        &[
            ("Host", "localhost"),
            ("Content-Type", "application/json"),
            ("Content-Length", "16385"),
            ("Expect", "100-continue"),
        ],
        b"",
    ))
    .await
    .expect("write");
    let mut first = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut first))
        .await
        .expect("an answer in time")
        .expect("read");
    assert_eq!(&first, b"HTTP/1.1 413");
    // Exactly 16 KiB declared is not refused for its size.
    let r = send(
        &app.url,
        &request(
            "POST",
            "/v1/codes",
            &[
                ("Host", "localhost"),
                ("Content-Type", "application/json"),
                ("Content-Length", "16384"),
                ("Connection", "close"),
            ],
            &[b' '; 16384],
        ),
        false,
        WAIT,
    )
    .await
    .expect("an answer");
    assert_problem(&r, 400, "invalid_request", "16 KiB of blanks");
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_is_refused_as_soon_as_it_grows_past_16_kib() {
    watch_panics();
    let app = TestApp::spawn().await;
    // 17 chunks of 1 KiB, and no end: the answer must come without one.
    let mut req = request(
        "POST",
        "/v1/register",
        &[
            ("Host", "localhost"),
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        b"",
    );
    for _ in 0..17 {
        req.extend_from_slice(b"400\r\n");
        req.extend_from_slice(&[b'a'; 1024]);
        req.extend_from_slice(b"\r\n");
    }
    let r = send(&app.url, &req, false, Duration::from_secs(3))
        .await
        .expect("an answer");
    assert_problem(&r, 413, "payload_too_large", "17 KiB chunked");
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}

/// A small deterministic generator (SplitMix64): the same requests every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, alphabet: &[u8], max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }

    /// An HTTP token (a method, a header name): one character at least.
    fn token(&mut self, max: usize) -> Vec<u8> {
        let mut t = self.bytes(TCHAR, max.saturating_sub(1));
        t.push(TCHAR[self.below(TCHAR.len())]);
        t
    }

    fn any_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ROUTES: &[&str] = &[
    "/v1/register",
    "/v1/register/confirm",
    "/v1/me",
    "/v1/me/email",
    "/v1/codes",
    "/v1/password/verify",
    "/v1/password/reset",
    "/v1/password/change",
    "/v1/unlock",
    "/v1/token",
    "/v1/me/methods",
    "/v1/me/methods/totp/confirm",
    "/v1/me/recovery-codes",
    "/.well-known/jwks.json",
    "/lambda-url/sspr-signin/.well-known/jwks.json",
];

/// A value a client could put in a header, good or bad.
fn value(rng: &mut Rng) -> Vec<u8> {
    let nasty: &[&[u8]] = &[
        b"",
        b" ",
        b"127.0.0.1:99999",
        b"x:y",
        b"a b",
        b"[::1",
        b"[::1]:65536",
        b"999.1.1.1",
        b"xn--zz",
        b"localhost:0",
        b"https, http",
        b"javascript",
        b"\xff\xfe",
        b"\xc3\xa9t\xc3\xa9",
        b"\x00",
        b"\x7f",
        b"a\r\n b",
        b"-1",
        b"18446744073709551616",
        b"99999999999999999999999",
        b"chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"100-continue",
        b"application/json",
        b"application/json; charset=\"\\",
        b"Bearer a.b.c",
        b"Bearer ",
    ];
    // Mostly what an HTTP parser lets through, so that sspr sees it.
    match rng.below(32) {
        0 => rng.any_bytes(40),
        1..=2 => vec![b'a'; 1 + rng.below(20_000)],
        3..=12 => rng.bytes(TCHAR, 60),
        13..=18 => rng.bytes(&[b' ', b'\t', 0x80, 0xc3, 0xa9, 0xff, b'"', b',', b';'], 12),
        _ => rng.pick(nasty).to_vec(),
    }
}

/// One raw request, and the answers that are right for it besides a 4xx
/// problem: the 2xx of a route that serves it.
fn case(rng: &mut Rng) -> (Vec<u8>, &'static [u16]) {
    let methods: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get",
    ];
    let method: Vec<u8> = match rng.below(32) {
        0..=1 => rng.token(12),
        2 => rng.any_bytes(8),
        3 => rng.pick(&["TRACE", "PRI", "G\u{0}T"]).as_bytes().to_vec(),
        _ => rng.pick(methods).as_bytes().to_vec(),
    };
    let route = rng.pick(ROUTES);
    let target: Vec<u8> = match rng.below(12) {
        0 => b"*".to_vec(),
        1 => format!("http://{}{route}", String::from_utf8_lossy(&value(rng))).into_bytes(),
        2 => b"localhost:8080".to_vec(),
        3 => {
            let mut t = route.as_bytes().to_vec();
            // Mostly what a URI may hold (so the parser lets it by), and
            // sometimes what it may not.
            let alphabet: &[u8] = if rng.below(4) == 0 {
                b"/%?#&=.;:@!$'()*+,~[]{}|\\^`\"<>aZ09"
            } else {
                b"/%?&=.;:@!$'()*+,~_-aZ09"
            };
            t.extend(rng.bytes(alphabet, 40));
            t
        }
        4 => {
            let mut t = b"/".to_vec();
            t.extend(rng.any_bytes(60));
            t
        }
        5 => format!("/{}", "a".repeat(7_000 + rng.below(70_000))).into_bytes(),
        _ => route.as_bytes().to_vec(),
    };
    let version: &[u8] = match rng.below(24) {
        0 => b"HTTP/1.0",
        1 => b"HTTP/2.0",
        2 => b"HTTP/9",
        _ => b"HTTP/1.1",
    };
    let names: &[&str] = &[
        "Host",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "Forwarded",
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Expect",
        "Authorization",
        "Accept-Language",
        "User-Agent",
        "Cookie",
        "X-Amzn-Trace-Id",
    ];
    let mut req = method;
    req.push(b' ');
    req.extend(target);
    req.push(b' ');
    req.extend_from_slice(version);
    req.extend_from_slice(b"\r\n");
    for _ in 0..rng.below(6) {
        let name: Vec<u8> = match rng.below(32) {
            0..=5 => rng.token(30),
            6 => rng.any_bytes(12),
            _ => rng.pick(names).as_bytes().to_vec(),
        };
        // A length is mostly a number, so that the request gets past the parser.
        let v = if name.eq_ignore_ascii_case(b"content-length") && rng.below(4) > 0 {
            rng.bytes(b"0123456789", 7)
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") && rng.below(4) > 0 {
            b"chunked".to_vec()
        } else {
            value(rng)
        };
        req.extend(name);
        req.extend_from_slice(b": ");
        req.extend(v);
        req.extend_from_slice(b"\r\n");
    }
    let mut ok: &'static [u16] = &[];
    let body: Vec<u8> = match rng.below(4) {
        0 => {
            // A well-formed request among the noise: these routes answer 2xx.
            ok = &[202];
            br#"{"username":"nobody","purpose":"reset_password"}"#.to_vec()
        }
        1 => rng.any_bytes(300),
        _ => Vec::new(),
    };
    if ok == [202] {
        // Whatever else is wrong with the request, this is a 4xx or a 202.
        req.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    if route.ends_with("jwks.json") {
        ok = &[200];
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    req.extend(body);
    (req, ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_requests_never_crash_the_host_or_get_a_5xx() {
    watch_panics();
    let app = TestApp::spawn_with(|c| {
        c.client_limits.0.clear();
        c.hash = sspr_core::config::HashParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
    })
    .await;
    let cases = std::env::var("SSPR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2000)
        / 4;
    // Every case runs, however long it takes: coverage is counted, not timed.
    let started = Instant::now();
    let mut rng = Rng(0x5eed_0011);
    let (mut sent, mut closed, mut served, mut problems, mut parser) = (0usize, 0, 0, 0, 0);
    while sent < cases {
        let (req, ok) = case(&mut rng);
        sent += 1;
        let what = String::from_utf8_lossy(&req[..req.len().min(300)]).into_owned();
        let Some(r) = send(&app.url, &req, true, WAIT).await else {
            closed += 1;
            continue;
        };
        assert!(r.status < 500, "{} to {what:?}", r.status);
        if (200..400).contains(&r.status) {
            // A target that comes out as `/` (`localhost:8080`, say) is the
            // home page, which any GET may have.
            let page = r.status == 200
                && r.header("content-type")
                    .is_some_and(|c| c.starts_with("text/html"));
            assert!(ok.contains(&r.status) || page, "{} to {what:?}", r.status);
            served += 1;
            continue;
        }
        match r.header("content-type") {
            Some("application/problem+json") => {
                problems += 1;
                // HEAD answers carry no body.
                if !r.body.is_empty() {
                    assert!(
                        r.json()["code"].is_string(),
                        "{} {:?} to {what:?}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    );
                }
            }
            // The HTTP parser's own refusal of what is not HTTP/1.1 at all
            // (hyper answers these before sspr sees a request): no body.
            None => {
                parser += 1;
                assert!(
                    matches!(r.status, 400 | 414 | 431) && r.body.is_empty(),
                    "{} {:?} to {what:?}",
                    r.status,
                    r.headers
                )
            }
            Some(other) => panic!("{} as {other} to {what:?}", r.status),
        }
    }
    eprintln!(
        "raw HTTP fuzz: {sent} requests in {:?}: {served} served, {problems} problems, \
         {parser} refused by the HTTP parser, {closed} closed",
        started.elapsed()
    );
    // The pass is about what reaches sspr, not only the parser's refusals.
    assert!(
        served + problems >= sent / 3,
        "too few requests reached sspr"
    );
    assert_alive(&app.url).await;
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_host_s_own_refusals_carry_strict_transport_security_too() {
    watch_panics();
    let app = TestApp::spawn().await;
    let host = ("Host", "localhost");
    let close = ("Connection", "close");
    let long = format!("/{}", "a".repeat(sspr_core::http::MAX_TARGET + 1));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a served route",
            request("GET", "/.well-known/jwks.json", &[host, close], b""),
            200,
        ),
        ("a page", request("GET", "/reset", &[host, close], b""), 200),
        (
            "no such route",
            request("GET", "/nowhere", &[host, close], b""),
            404,
        ),
        (
            "a method the route does not take",
            request("DELETE", "/v1/token", &[host, close], b""),
            405,
        ),
        (
            "a target over 8 KiB (refused before the event is built)",
            request("GET", &long, &[host, close], b""),
            414,
        ),
        (
            "a declared body over 16 KiB (refused before it is read)",
            request(
                "POST",
                "/v1/register",
                &[
                    host,
                    ("Content-Type", "application/json"),
                    ("Content-Length", "20000"),
                ],
                b"",
            ),
            413,
        ),
    ];
    for (what, req, status) in cases {
        let r = send(&app.url, &req, false, WAIT).await.expect("an answer");
        assert_eq!(r.status, status, "{what}");
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=63072000; includeSubDomains"),
            "{what}"
        );
    }
    assert_eq!(panics(), Vec::<String>::new(), "the server panicked");
}
