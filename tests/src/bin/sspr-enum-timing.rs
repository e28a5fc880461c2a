//! `sspr-enum-timing [ROUNDS]`: does sign-in take as long for an unknown user as
//! for a known user with a wrong password? Prints its method and figures, and
//! exits non-zero when the ratio of medians leaves 0.7x to 1.4x.

use std::time::Instant;

use sspr_tests::{TestApp, PASSWORD};

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(41);
    let app = TestApp::spawn_with(|c| {
        // Measure the password check alone: no lockout, no client limit in the way.
        c.signin.max_failures = 1_000_000;
        c.client_limits.0.clear();
    })
    .await;
    app.confirmed_user("alice").await;
    // Warm both paths (connections, each blocking thread's Argon2 block).
    for _ in 0..3 {
        app.sign_in("alice", "wrong password warmup").await;
        app.sign_in("nobody", "wrong password warmup").await;
    }
    let (mut known, mut unknown, mut right) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds {
        // Interleaved, in alternating order, so drift hits both alike.
        let order = if i % 2 == 0 {
            ["alice", "nobody"]
        } else {
            ["nobody", "alice"]
        };
        for user in order {
            let t = Instant::now();
            let r = app.sign_in(user, &format!("wrong password {i}")).await;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(r.status, 401);
            if user == "alice" {
                known.push(ms)
            } else {
                unknown.push(ms)
            }
        }
        let t = Instant::now();
        app.sign_in("alice", PASSWORD).await;
        right.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut known, &mut unknown, &mut right] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!("method: POST /v1/token over HTTP to the local host (embedded dynoxide), {rounds} interleaved rounds;");
    println!("        each round times a wrong password for an existing user and any password for an unknown one");
    println!(
        "{:<28} {:>9} {:>9} {:>9}",
        "case", "p10 ms", "median", "p90 ms"
    );
    for (name, v) in [
        ("known user, wrong password", &known),
        ("unknown user", &unknown),
        ("known user, right password", &right),
    ] {
        println!(
            "{:<28} {:>9.2} {:>9.2} {:>9.2}",
            name,
            quantile(v, 0.1),
            quantile(v, 0.5),
            quantile(v, 0.9)
        );
    }
    let ratio = quantile(&unknown, 0.5) / quantile(&known, 0.5);
    let ok = (0.7..=1.4).contains(&ratio);
    println!(
        "unknown / wrong-password median ratio: {ratio:.3} (allowed 0.7 to 1.4): {}",
        if ok { "ok" } else { "OUT OF RANGE" }
    );
    if !ok {
        std::process::exit(1);
    }
}
