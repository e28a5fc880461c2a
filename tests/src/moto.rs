//! moto's server, started on a free loopback port for one test and stopped
//! when dropped. SES mail and SNS text messages sent to it are read back from
//! `/moto-api/data.json`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{parse_eml, Mail};

pub const REGION: &str = "us-east-1";

/// Where `moto_server` is: `SSPR_MOTO_SERVER`, the venv `tests/run` makes, or PATH.
fn moto_server() -> PathBuf {
    if let Ok(p) = std::env::var("SSPR_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Start moto; panics with the way out when it is not installed.
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "moto_server did not start ({e}); run tests/run, which installs it into .venv"
                )
            });
        let moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/moto-api/data.json", moto.url))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer within 30 s");
    }

    /// An `SdkConfig` for moto: its endpoint, one region, throwaway credentials.
    pub async fn sdk(&self) -> aws_types::SdkConfig {
        sspr_core::aws::local(&self.url, REGION).build()
    }

    /// Verify a sender identity, as an operator does once per deployment.
    pub async fn verify_sender(&self, address: &str) {
        aws_sdk_ses::Client::new(&self.sdk().await)
            .verify_email_identity()
            .email_address(address)
            .send()
            .await
            .expect("identity verified");
    }

    /// Every text message moto's SNS accepted, oldest first: (phone number, text).
    pub async fn sms(&self) -> Vec<(String, String)> {
        let data: serde_json::Value =
            match reqwest::get(format!("{}/moto-api/data.json", self.url)).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
        data["sns"]["SMS"]
            .as_array()
            .map(|msgs| {
                msgs.iter()
                    .map(|m| {
                        (
                            m["phone_number"].as_str().unwrap_or("").to_owned(),
                            m["message"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every raw message moto accepted, parsed.
    pub async fn mails(&self) -> Vec<Mail> {
        let data: serde_json::Value =
            match reqwest::get(format!("{}/moto-api/data.json", self.url)).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
        data["ses"]["RawMessage"]
            .as_array()
            .map(|msgs| {
                msgs.iter()
                    .map(|m| {
                        parse_eml(
                            m["id"].as_str().unwrap_or("").to_owned(),
                            m["raw_data"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Mails to `to` whose subject is `subject`.
    pub async fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .await
            .into_iter()
            .filter(|m| m.to == to)
            .collect()
    }
}

impl Moto {
    /// Make a Secrets Manager secret holding `value`, as the stack does;
    /// its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        aws_sdk_secretsmanager::Client::new(&self.sdk().await)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("secret made")
            .arn()
            .expect("an ARN")
            .to_owned()
    }
}
