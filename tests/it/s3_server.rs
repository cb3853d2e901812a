//! A real S3-compatible server on loopback for the tests: moto
//! (`tests/s3/moto_server.py`, from the venv `scripts/test` installs),
//! with authentication on, one request at a time, and a request log.
//! One server per test process, on a free port; each test works under its
//! own key prefix. The server exits when this process does (it watches the
//! pipe on its stdin).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use alchemy_ci::state::s3::{Credentials, S3Location, S3Options, S3Store};
use alchemy_ci::state::StoreError;
use secrecy::SecretString;

pub const BUCKET: &str = "alchemy-ci-test";

pub struct S3Server {
    pub port: u16,
    pub access_key_id: String,
    pub secret_access_key: String,
    _child: Mutex<(Child, ChildStdin)>,
}

/// One line of the server's request log.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
}

impl Request {
    pub fn is_list(&self) -> bool {
        self.method == "GET" && self.query.contains("list-type=2")
    }
}

/// The Python of the venv holding the pinned moto.
pub fn python() -> PathBuf {
    let p = std::env::var_os("ALCHEMY_CI_TEST_MOTO")
        .map(PathBuf::from)
        .unwrap_or_default();
    assert!(
        p.is_file(),
        "ALCHEMY_CI_TEST_MOTO must name the python of a venv with moto[server]: run the tests with scripts/test"
    );
    p
}

impl S3Server {
    /// The server shared by every test of this process.
    pub fn shared() -> &'static Self {
        static SERVER: OnceLock<S3Server> = OnceLock::new();
        SERVER.get_or_init(Self::start)
    }

    pub fn start() -> Self {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/moto_server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(BUCKET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("moto prints its port");
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto did not start ({e}): {line:?}"));
        let text = |k: &str| info[k].as_str().expect("string").to_owned();
        Self {
            port: info["port"].as_u64().expect("port") as u16,
            access_key_id: text("access_key_id"),
            secret_access_key: text("secret_access_key"),
            _child: Mutex::new((child, stdin)),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn location(&self, prefix: &str) -> S3Location {
        S3Location {
            bucket: BUCKET.into(),
            prefix: prefix.into(),
        }
    }

    /// A fresh store handle under `prefix`, as a new run would open it.
    pub fn store(&self, prefix: &str) -> S3Store {
        self.store_as(prefix, &self.access_key_id, &self.secret_access_key)
            .expect("open store")
    }

    pub fn store_as(
        &self,
        prefix: &str,
        key_id: &str,
        secret: &str,
    ) -> Result<S3Store, StoreError> {
        S3Store::open(S3Options {
            location: self.location(prefix),
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            credentials: Credentials {
                access_key_id: key_id.into(),
                secret_access_key: SecretString::from(secret.to_owned()),
                session_token: None,
            },
        })
    }

    /// An object_store client on the bucket, to look under the store.
    pub fn raw(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(&self.access_key_id)
            .with_secret_access_key(&self.secret_access_key)
            .build()
            .expect("raw client")
    }

    /// The environment a run of the binary needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
        ]
    }

    fn control(&self, method: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(
            s,
            "{method} /_alchemy_ci/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// Every request the server has answered since it started, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.control("GET")
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }
}
