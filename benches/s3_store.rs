//! What the S3 store costs a run: restore + save of one stage (a fresh
//! handle, load, the lock write, the final write) against moto on loopback,
//! with 10 and with 10,000 other stages in the bucket; and the listing that
//! `status` and `cleanup` do (one LIST plus one GET per record).
//!
//! Run: `scripts/bench s3_store` (after `scripts/test` has installed moto).
//! Numbers go in docs/BENCHMARKS.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alchemy_ci::record::{Record, RecordStatus};
use alchemy_ci::stage::Stage;
use alchemy_ci::state::{Snapshot, StateStore, Version};
use alchemy_ci::time::Timestamp;

#[path = "../tests/it/s3_server.rs"]
mod s3_server;

use s3_server::S3Server;

fn stage(name: &str) -> Stage {
    Stage::parse_stored(name).expect("stage")
}

/// A stage as a small Alchemy v1 app leaves it: five resource files of a
/// few hundred bytes to 2 KB, and its record.
fn realistic(name: &str, round: usize) -> Snapshot {
    let mut record = Record::new(
        stage(name),
        RecordStatus::Deployed,
        Timestamp::from_unix(1_800_000_000),
    );
    let mut files = BTreeMap::new();
    for (i, size) in [300usize, 600, 900, 1500, 2000].into_iter().enumerate() {
        let body = format!(
            "{{\"kind\":\"test::Res\",\"id\":\"r{i}\",\"seq\":{round},\"data\":\"{}\"}}",
            "x".repeat(size)
        );
        files.insert(format!("app/{name}/r{i}.json"), body.into_bytes());
    }
    record.files = files.keys().cloned().collect();
    Snapshot {
        record: Some(record),
        files,
    }
}

fn small(name: &str) -> Snapshot {
    let mut record = Record::new(
        stage(name),
        RecordStatus::Deployed,
        Timestamp::from_unix(1_800_000_000),
    );
    record.files = vec![format!("app/{name}/site.json")];
    Snapshot {
        record: Some(record),
        files: BTreeMap::from([(
            format!("app/{name}/site.json"),
            b"{\"kind\":\"test::Site\"}".to_vec(),
        )]),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn seed(server: &'static S3Server, prefix: &'static str, n: usize) {
    let t = Instant::now();
    let threads = 4;
    let handles: Vec<_> = (0..threads)
        .map(|w| {
            std::thread::spawn(move || {
                let store = server.store(prefix);
                for i in (w..n).step_by(threads) {
                    let name = format!("pr-{}", i + 1000);
                    store
                        .put(&stage(&name), &small(&name), &Version::ABSENT, "seed")
                        .expect("seed");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("seed thread");
    }
    eprintln!("seeded {n} stages in {:?}", t.elapsed());
}

struct Cycle {
    total: Duration,
    load: Duration,
    lock: Duration,
    save: Duration,
}

/// One run's store work: open, load, take the lock, write the result.
fn cycle(server: &S3Server, prefix: &str, round: usize) -> Cycle {
    let s = stage("pr-1");
    let t0 = Instant::now();
    let store = server.store(prefix);
    let loaded = store.load(&s).expect("load");
    let t1 = Instant::now();
    let mut locked = loaded.snapshot.clone();
    if let Some(r) = locked.record.as_mut() {
        r.status = RecordStatus::Deploying;
    }
    let v = store
        .put(&s, &locked, &loaded.version, "lock")
        .expect("lock");
    let t2 = Instant::now();
    // Alchemy changed one resource.
    let mut done = realistic("pr-1", 0);
    done.files.insert(
        "app/pr-1/r0.json".into(),
        format!("{{\"seq\":{round}}}").into_bytes(),
    );
    store.put(&s, &done, &v, "deploy").expect("save");
    let t3 = Instant::now();
    Cycle {
        total: t3 - t0,
        load: t1 - t0,
        lock: t2 - t1,
        save: t3 - t2,
    }
}

fn main() {
    let server: &'static S3Server = Box::leak(Box::new(S3Server::start()));
    let runs = 21;
    println!("| stages in the bucket | restore + save (median of {runs}) | open + load | lock write | final write | list() | records() |");
    println!("|---|---|---|---|---|---|---|");
    for (n, prefix) in [(10usize, "bench-10"), (10_000, "bench-10000")] {
        seed(server, prefix, n);
        let first = server.store(prefix);
        first
            .put(
                &stage("pr-1"),
                &realistic("pr-1", 0),
                &Version::ABSENT,
                "first",
            )
            .expect("first");
        // Warm up the server and the code paths.
        for round in 0..3 {
            cycle(server, prefix, round);
        }
        let cycles: Vec<Cycle> = (0..runs).map(|r| cycle(server, prefix, r + 3)).collect();
        let lists: Vec<Duration> = (0..3)
            .map(|_| {
                let store = server.store(prefix);
                let t = Instant::now();
                assert_eq!(store.list().expect("list").len(), n + 1);
                t.elapsed()
            })
            .collect();
        let listing: Vec<Duration> = (0..3)
            .map(|_| {
                let store = server.store(prefix);
                let t = Instant::now();
                assert_eq!(store.records().expect("records").len(), n + 1);
                t.elapsed()
            })
            .collect();
        println!(
            "| {n} | **{}** | {} | {} | {} | {} | {} |",
            ms(median(cycles.iter().map(|c| c.total).collect())),
            ms(median(cycles.iter().map(|c| c.load).collect())),
            ms(median(cycles.iter().map(|c| c.lock).collect())),
            ms(median(cycles.iter().map(|c| c.save).collect())),
            ms(median(lists)),
            ms(median(listing)),
        );
    }
}
