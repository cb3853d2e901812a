//! How long `simulate` takes on a 2 MB pull request payload, in process
//! (parse + decide + render) and as a whole process run, as a user calls it.
//!
//! Run: `cargo bench --bench simulate`. Prints medians; numbers and the
//! machine they came from go in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alchemy_ci::alchemy::{Detected, Flavor};
use alchemy_ci::config::{self, FlagValues, Sources};
use alchemy_ci::event::{self, NameHint};
use alchemy_ci::plan::{self, Facts, RunContext};
use serde_json::{json, Value};

fn big_payload() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks/pull_request.opened.json");
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let user = v["sender"].clone();
    let label = json!({
        "id": 1, "node_id": "MDU6TGFiZWwx", "url": "https://api.github.com/repos/o/r/labels/x",
        "name": "needs-review", "color": "d73a4a", "default": false,
        "description": "A label with a description long enough to look like a real one"
    });
    v["pull_request"]["labels"] = Value::Array(vec![label; 3_000]);
    v["pull_request"]["requested_reviewers"] = Value::Array(vec![user; 1_400]);
    v["pull_request"]["body"] = json!("Lorem ipsum dolor sit amet. ".repeat(2_300));
    serde_json::to_vec(&v).expect("serialize")
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let bytes = big_payload();
    let mb = bytes.len() as f64 / 1_048_576.0;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("big.json");
    std::fs::write(&file, &bytes).expect("write payload");

    let env = BTreeMap::new();
    let flags = FlagValues::default();
    let config = config::resolve(&Sources {
        flags: &flags,
        env: &env,
        root: dir.path(),
    })
    .expect("config");
    let facts = Facts {
        alchemy: Detected {
            flavor: Flavor::V1,
            why: "bench".into(),
        },
        can_post: true,
        live_pr: None,
        record: None,
        run: RunContext::default(),
        commenter_permission: None,
        pull_head: None,
    };
    let hint = NameHint::default();

    let mut in_process = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let ev = event::parse(&file, &bytes, &hint).expect("parse");
        let p = plan::decide(&ev, &config, &facts).expect("decide");
        let out = serde_json::to_string(&p).expect("render");
        std::hint::black_box(out);
        in_process.push(t.elapsed());
    }

    let bin = env!("CARGO_BIN_EXE_alchemy-ci");
    let mut whole = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let out = Command::new(bin)
            .args(["simulate", "--json", "--event"])
            .arg(&file)
            .current_dir(dir.path())
            .env_clear()
            .output()
            .expect("run alchemy-ci");
        whole.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    println!("payload: {mb:.2} MiB pull_request.opened");
    println!(
        "in process (parse + decide + JSON): median {:?} over 200 runs",
        median(in_process)
    );
    println!(
        "alchemy-ci simulate --json (whole process): median {:?} over 30 runs",
        median(whole)
    );
}
