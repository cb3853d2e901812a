//! `state-store: s3://bucket/prefix`: every stage's state in an
//! S3-compatible object store (AWS S3, Cloudflare R2, MinIO), with the same
//! compare-and-swap semantics as the folder and git stores, built on the
//! store's conditional writes (`If-Match` / `If-None-Match: *`).
//!
//! Layout, one key space per stage (see docs/record.md):
//!
//! ```text
//! <prefix>/stages/<stage>/record.json               the stage object: record + manifest
//! <prefix>/stages/<stage>/alchemy/<generation>/<path>  one state file
//! ```
//!
//! The stage object is the only thing ever overwritten, and only with a
//! conditional write on the ETag that was read: it is the commit point and
//! its ETag is the [`Version`]. Its `"s3"` section names, for each state
//! file, the generation whose object holds it. A write uploads the files it
//! changed under a generation of its own (a fresh random id, so no other
//! writer can ever touch those keys), then writes the stage object, then
//! deletes the objects the replaced manifest named and the new one does
//! not. A crash at any point leaves the previous stage object in force with
//! every file it names; a writer that loses the race deletes only objects
//! that no stage object can name.
//!
//! Removing a stage overwrites its stage object, conditionally, with a
//! tombstone (the moment the stage is gone), deletes its files, then the
//! tombstone. A tombstone reads as an absent stage, and a write that
//! expects an absent stage uses `If-None-Match: *`, so it can never be based
//! on a tombstone that is about to be deleted. Only a tombstone that a
//! crashed removal left behind for longer than [`TOMBSTONE_TAKEOVER`] is
//! written over with `If-Match`.
//!
//! Credentials come only from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! and `AWS_SESSION_TOKEN`. The trait is blocking: the store drives
//! `object_store`'s async client on a current-thread runtime of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::files::check_rel_path;
use super::{
    AsKey, KeyRecord, Loaded, Snapshot, StageRecord, StateKey, StateStore, StoreError, Version,
};
use crate::record::Record;
use crate::stage::Stage;
use crate::time::Timestamp;

/// Requests in flight at once for one store operation.
const PARALLEL: usize = 16;

/// A removal deletes its tombstone only if it gets there this soon after
/// writing it; past that it leaves the tombstone for [`TOMBSTONE_TAKEOVER`].
const TOMBSTONE_DELETE_WITHIN: Duration = Duration::from_secs(30);

/// How old a leftover tombstone must be before a new write takes it over:
/// far longer than a removal may take to delete its own tombstone.
pub const TOMBSTONE_TAKEOVER: Duration = Duration::from_secs(10 * 60);

/// The key of the store's own section in a stage object.
const SECTION: &str = "s3";

/// Where the state lives: a bucket and a key prefix (no leading or trailing
/// `/`, possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`. Bucket names
    /// follow S3's rules (3–63 of `a-z 0-9 . -`); prefix segments are
    /// letters, digits, `.`, `_` and `-`, so keys need no escaping.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{s:?} does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(format!(
                "{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '.', '-')"
            ));
        }
        let prefix = prefix.trim_matches('/');
        let prefix_ok = prefix.is_empty()
            || prefix.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            });
        if !prefix_ok {
            return Err(format!(
                "{prefix:?} is not a key prefix (segments of letters, digits, '.', '_', '-')"
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Access keys, from the environment only: inputs are logged, the
/// environment of a step is not.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl Credentials {
    pub const VARS: [&'static str; 3] = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ];

    /// Reads the three `AWS_*` variables through `var`; the key id and
    /// secret are required.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Ok(Self {
                access_key_id: id,
                secret_access_key: SecretString::from(secret),
                session_token: get("AWS_SESSION_TOKEN").map(SecretString::from),
            }),
            _ => Err(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials) in the environment of the step"
                    .into(),
            ),
        }
    }
}

/// Everything needed to open a store.
pub struct S3Options {
    pub location: S3Location,
    /// `https://…` for R2, MinIO and others; `None` for AWS S3 itself.
    pub endpoint: Option<String>,
    /// `auto` for R2; AWS needs the bucket's region.
    pub region: String,
    pub credentials: Credentials,
}

/// The store's own part of a stage object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// Unique to the write that made this stage object, so every stage
    /// object has different bytes (and so a different ETag) from any
    /// other: an ETag read once can never match a later object.
    generation: String,
    /// State file path → the generation whose object holds it.
    #[serde(default)]
    objects: BTreeMap<String, String>,
    /// Set on a tombstone: the stage was removed at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    removed_at: Option<Timestamp>,
}

/// A stage object as read.
struct StageObject {
    etag: String,
    record: Option<Record>,
    manifest: Manifest,
}

impl StageObject {
    fn is_tombstone(&self) -> bool {
        self.manifest.removed_at.is_some()
    }
}

/// What the last load or write of a stage through this handle saw: the
/// manifest of one ETag, and the bytes of its files, so the next write can
/// keep the objects of unchanged files instead of uploading them again.
struct Cached {
    etag: String,
    manifest: Manifest,
    files: BTreeMap<String, Vec<u8>>,
}

pub struct S3Store {
    client: AmazonS3,
    rt: tokio::runtime::Runtime,
    location: S3Location,
    endpoint: Option<String>,
    cache: Mutex<HashMap<StateKey, Cached>>,
    crash_before_commit: AtomicBool,
}

impl S3Store {
    pub fn open(opts: S3Options) -> Result<Self, StoreError> {
        let S3Options {
            location,
            endpoint,
            region,
            credentials,
        } = opts;
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(&region)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(credentials.secret_access_key.expose_secret())
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(Duration::from_secs(30))
                    .with_connect_timeout(Duration::from_secs(5)),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
            });
        if let Some(token) = &credentials.session_token {
            b = b.with_token(token.expose_secret());
        }
        match &endpoint {
            Some(e) => {
                // Plain http only when the endpoint says so (a local MinIO).
                b = b
                    .with_endpoint(e.trim_end_matches('/'))
                    .with_allow_http(e.starts_with("http://"));
            }
            // AWS itself: bucket.s3.region.amazonaws.com, unless a dotted
            // bucket name would not match the certificate.
            None => b = b.with_virtual_hosted_style_request(!location.bucket.contains('.')),
        }
        let client = b.build().map_err(|e| StoreError::Unavailable {
            store: location.to_string(),
            message: format!("cannot set up the S3 client: {e}"),
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io("starting the S3 client's runtime", e))?;
        Ok(Self {
            client,
            rt,
            location,
            endpoint,
            cache: Mutex::new(HashMap::new()),
            crash_before_commit: AtomicBool::new(false),
        })
    }

    /// For tests: the next writes stop after uploading their files, as a
    /// run killed just before the stage object is written would.
    #[doc(hidden)]
    pub fn simulate_crash_before_commit(&self, on: bool) {
        self.crash_before_commit.store(on, Ordering::SeqCst);
    }

    fn stages_dir(&self) -> String {
        if self.location.prefix.is_empty() {
            "stages".into()
        } else {
            format!("{}/stages", self.location.prefix)
        }
    }

    fn record_key(&self, stage: &StateKey) -> Key {
        Key::from(format!("{}/{stage}/record.json", self.stages_dir()).as_str())
    }

    fn file_key(&self, stage: &StateKey, generation: &str, rel: &str) -> Result<Key, StoreError> {
        let raw = format!("{}/{stage}/alchemy/{generation}/{rel}", self.stages_dir());
        Key::parse(&raw).map_err(|e| StoreError::Corrupt {
            location: format!("state file {rel:?} of {stage}"),
            message: format!("cannot be an object key: {e}"),
        })
    }

    fn url(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.location.bucket)
    }

    fn conflict(stage: &StateKey) -> StoreError {
        StoreError::Conflict { key: stage.clone() }
    }

    /// Turns a client error into the store's kinds: refused credentials,
    /// a missing bucket, or a store that cannot be reached.
    fn error(&self, e: &object_store::Error, doing: &str) -> StoreError {
        let store = self.location.to_string();
        let (status, code, message) = response_of(e);
        let refused = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || matches!(status, Some(401 | 403));
        match e {
            _ if refused => StoreError::Auth {
                store,
                message: format!(
                    "the server refused the credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY while {doing} ({})",
                    describe_response(status, code.as_deref(), message.as_deref())
                ),
            },
            _ if code.as_deref() == Some("NoSuchBucket") => StoreError::Unavailable {
                store,
                message: format!("the bucket {} does not exist", self.location.bucket),
            },
            _ => {
                let at = self
                    .endpoint
                    .as_deref()
                    .map(|ep| format!(" at {ep}"))
                    .unwrap_or_default();
                let what = match status {
                    Some(_) => describe_response(status, code.as_deref(), message.as_deref()),
                    None => e.to_string(),
                };
                StoreError::Unavailable {
                    store,
                    message: format!("{doing}{at}: {what}"),
                }
            }
        }
    }

    /// Reads a stage object: `None` when there is none.
    async fn read_object(&self, stage: &StateKey) -> Result<Option<StageObject>, StoreError> {
        let key = self.record_key(stage);
        let got = match self.client.get(&key).await {
            Ok(g) => g,
            Err(e @ object_store::Error::NotFound { .. }) => {
                return match response_of(&e).1.as_deref() {
                    Some("NoSuchBucket") => Err(self.error(&e, "reading a stage")),
                    _ => Ok(None),
                };
            }
            Err(e) => return Err(self.error(&e, &format!("reading {}", self.url(&key)))),
        };
        let etag = got
            .meta
            .e_tag
            .clone()
            .ok_or_else(|| StoreError::Unavailable {
                store: self.location.to_string(),
                message: format!("the server sent {} without an ETag", self.url(&key)),
            })?;
        let bytes = got
            .bytes()
            .await
            .map_err(|e| self.error(&e, &format!("reading {}", self.url(&key))))?;
        let (record, manifest) = decode(&bytes).map_err(|message| StoreError::Corrupt {
            location: self.url(&key),
            message,
        })?;
        Ok(Some(StageObject {
            etag,
            record,
            manifest,
        }))
    }

    /// The manifest (and file bytes, when this handle has them) of the
    /// stage object at `etag`, or a conflict when that is no longer it.
    async fn base(&self, stage: &StateKey, etag: &str) -> Result<Cached, StoreError> {
        if let Some(c) = self.cached(stage, etag) {
            return Ok(c);
        }
        match self.read_object(stage).await? {
            Some(o) if o.etag == etag && !o.is_tombstone() => Ok(Cached {
                etag: o.etag,
                manifest: o.manifest,
                files: BTreeMap::new(),
            }),
            _ => Err(Self::conflict(stage)),
        }
    }

    fn cached(&self, stage: &StateKey, etag: &str) -> Option<Cached> {
        let cache = self.cache.lock().ok()?;
        let c = cache.get(stage).filter(|c| c.etag == etag)?;
        Some(Cached {
            etag: c.etag.clone(),
            manifest: c.manifest.clone(),
            files: c.files.clone(),
        })
    }

    fn remember(&self, stage: &StateKey, entry: Option<Cached>) {
        if let Ok(mut cache) = self.cache.lock() {
            match entry {
                Some(c) => cache.insert(stage.clone(), c),
                None => cache.remove(stage),
            };
        }
    }

    async fn load_async(&self, stage: &StateKey) -> Result<Loaded, StoreError> {
        // A write that replaces the stage object deletes the old files right
        // after: a read that started before it may find one gone. It then
        // sees a new ETag and reads again.
        for _ in 0..5 {
            let Some(obj) = self.read_object(stage).await? else {
                return Ok(absent());
            };
            if obj.is_tombstone() {
                return Ok(absent());
            }
            let wanted: Vec<(&String, &String)> = obj.manifest.objects.iter().collect();
            let got: Vec<(String, Option<Vec<u8>>)> = stream::iter(wanted)
                .map(|(rel, generation)| async move {
                    let key = self.file_key(stage, generation, rel)?;
                    match self.client.get(&key).await {
                        Ok(g) => {
                            let b = g.bytes().await.map_err(|e| {
                                self.error(&e, &format!("reading {}", self.url(&key)))
                            })?;
                            Ok((rel.clone(), Some(b.to_vec())))
                        }
                        Err(object_store::Error::NotFound { .. }) => Ok((rel.clone(), None)),
                        Err(e) => Err(self.error(&e, &format!("reading {}", self.url(&key)))),
                    }
                })
                .buffer_unordered(PARALLEL)
                .try_collect()
                .await?;
            let missing: Vec<&String> = got
                .iter()
                .filter(|(_, b)| b.is_none())
                .map(|(rel, _)| rel)
                .collect();
            if let Some(rel) = missing.first() {
                let now = self.read_object(stage).await?;
                if now.as_ref().map(|o| &o.etag) != Some(&obj.etag) {
                    continue;
                }
                let generation = obj.manifest.objects.get(*rel).cloned().unwrap_or_default();
                let key = self.file_key(stage, &generation, rel)?;
                return Err(StoreError::Corrupt {
                    location: self.url(&key),
                    message: format!(
                        "named by {} but missing ({} file(s) missing)",
                        self.url(&self.record_key(stage)),
                        missing.len()
                    ),
                });
            }
            let files: BTreeMap<String, Vec<u8>> = got
                .into_iter()
                .filter_map(|(rel, b)| b.map(|b| (rel, b)))
                .collect();
            let snapshot = Snapshot {
                record: obj.record,
                files,
            };
            self.remember(
                stage,
                Some(Cached {
                    etag: obj.etag.clone(),
                    manifest: obj.manifest,
                    files: snapshot.files.clone(),
                }),
            );
            return Ok(Loaded {
                snapshot,
                version: Version(Some(obj.etag)),
            });
        }
        Err(StoreError::Unavailable {
            store: self.location.to_string(),
            message: format!("stage {stage} kept changing while it was being read"),
        })
    }

    async fn put_async(
        &self,
        stage: &StateKey,
        snapshot: &Snapshot,
        expected: &Version,
    ) -> Result<Version, StoreError> {
        super::files::check_paths(stage, &snapshot.files)?;
        let base = match &expected.0 {
            None => None,
            Some(etag) => Some(self.base(stage, etag).await?),
        };
        // The files first, under a generation no other writer can use.
        let generation = new_generation();
        let (objects, fresh_keys) = self
            .upload_files(stage, snapshot, base.as_ref(), &generation)
            .await?;
        if self.crash_before_commit.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                store: self.location.to_string(),
                message: "simulated crash before the stage object was written".into(),
            });
        }
        // Then the stage object, conditionally: the commit.
        let manifest = Manifest {
            generation,
            objects,
            removed_at: None,
        };
        let body = encode(snapshot.record.as_ref(), &manifest)?;
        let etag = self
            .commit(stage, &body, expected, &manifest, &fresh_keys)
            .await?;
        // Last, the objects only the replaced stage object named.
        if let Some(base) = &base {
            let stale: Vec<Key> = base
                .manifest
                .objects
                .iter()
                .filter(|(rel, g)| manifest.objects.get(*rel) != Some(*g))
                .filter_map(|(rel, g)| self.file_key(stage, g, rel).ok())
                .collect();
            self.delete_keys(&stale).await;
        }
        self.remember(
            stage,
            Some(Cached {
                etag: etag.clone(),
                manifest,
                files: snapshot.files.clone(),
            }),
        );
        Ok(Version(Some(etag)))
    }

    /// Uploads the files that changed since `base` under `generation`;
    /// unchanged files keep the objects the base already names. Returns
    /// which object holds each file, and the keys uploaded. Nothing names
    /// the uploads yet: on failure they are deleted.
    async fn upload_files(
        &self,
        stage: &StateKey,
        snapshot: &Snapshot,
        base: Option<&Cached>,
        generation: &str,
    ) -> Result<(BTreeMap<String, String>, Vec<Key>), StoreError> {
        let mut objects = BTreeMap::new();
        let mut fresh: Vec<(Key, &Vec<u8>)> = Vec::new();
        for (rel, bytes) in &snapshot.files {
            let kept = base.and_then(|b| {
                let g = b.manifest.objects.get(rel)?;
                (b.files.get(rel)? == bytes).then(|| g.clone())
            });
            match kept {
                Some(g) => {
                    objects.insert(rel.clone(), g);
                }
                None => {
                    objects.insert(rel.clone(), generation.to_owned());
                    fresh.push((self.file_key(stage, generation, rel)?, bytes));
                }
            }
        }
        let uploaded = stream::iter(fresh.iter())
            .map(|(key, bytes)| async move {
                self.client
                    .put(key, PutPayload::from((*bytes).clone()))
                    .await
                    .map_err(|e| self.error(&e, &format!("writing {}", self.url(key))))
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<_>>()
            .await;
        let fresh_keys: Vec<Key> = fresh.iter().map(|(k, _)| k.clone()).collect();
        if let Err(e) = uploaded {
            // Nothing names these objects, and nothing ever will.
            self.delete_keys(&fresh_keys).await;
            return Err(e);
        }
        Ok((objects, fresh_keys))
    }

    /// Writes the stage object if the stage is still at `expected`: the
    /// commit. A refusal is a conflict (its uploads deleted) unless an
    /// earlier attempt of this very write went through, or the stage is a
    /// tombstone an interrupted removal left long ago.
    async fn commit(
        &self,
        stage: &StateKey,
        body: &[u8],
        expected: &Version,
        manifest: &Manifest,
        fresh_keys: &[Key],
    ) -> Result<String, StoreError> {
        let key = self.record_key(stage);
        let mut mode = match &expected.0 {
            None => PutMode::Create,
            Some(etag) => update(etag),
        };
        let mut took_over = false;
        loop {
            let result = self
                .client
                .put_opts(
                    &key,
                    PutPayload::from(body.to_vec()),
                    PutOptions::from(mode.clone()),
                )
                .await;
            let e = match result {
                Ok(r) => {
                    return match r.e_tag {
                        Some(etag) => Ok(etag),
                        None => self.etag_if_ours(stage, manifest).await,
                    }
                }
                Err(e) => e,
            };
            if !matches!(
                e,
                object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. }
                    | object_store::Error::NotFound { .. }
            ) {
                // The outcome is unknown: the write may have landed. Its
                // files stay either way.
                let err = self.error(&e, &format!("writing {}", self.url(&key)));
                return self.etag_if_ours(stage, manifest).await.map_err(|_| err);
            }
            if response_of(&e).1.as_deref() == Some("NoSuchBucket") {
                return Err(self.error(&e, "writing a stage"));
            }
            // Refused. Unless an earlier attempt of this very request went
            // through (a retry after a lost answer), it conflicts.
            match self.read_object(stage).await? {
                Some(o) if o.manifest.generation == manifest.generation => return Ok(o.etag),
                Some(o)
                    if expected.0.is_none()
                        && !took_over
                        && o.manifest
                            .removed_at
                            .is_some_and(|t| Timestamp::now().since(t) > TOMBSTONE_TAKEOVER) =>
                {
                    tracing::warn!(
                        "taking over the tombstone an interrupted removal of {stage} left in {}",
                        self.url(&key)
                    );
                    mode = update(&o.etag);
                    took_over = true;
                }
                now => {
                    let named = now.map(|o| o.manifest).unwrap_or_else(empty_manifest);
                    let orphans: Vec<Key> = fresh_keys
                        .iter()
                        .filter(|k| !self.names(stage, &named, k))
                        .cloned()
                        .collect();
                    self.delete_keys(&orphans).await;
                    return Err(Self::conflict(stage));
                }
            }
        }
    }

    /// The ETag of the stage object if it is the one this write made.
    async fn etag_if_ours(&self, stage: &StateKey, mine: &Manifest) -> Result<String, StoreError> {
        match self.read_object(stage).await? {
            Some(o) if o.manifest.generation == mine.generation => Ok(o.etag),
            _ => Err(Self::conflict(stage)),
        }
    }

    fn names(&self, stage: &StateKey, manifest: &Manifest, key: &Key) -> bool {
        manifest
            .objects
            .iter()
            .any(|(rel, g)| self.file_key(stage, g, rel).is_ok_and(|k| &k == key))
    }

    async fn remove_async(&self, stage: &StateKey, expected: &Version) -> Result<(), StoreError> {
        let Some(etag) = &expected.0 else {
            return match self.read_object(stage).await? {
                Some(o) if !o.is_tombstone() => Err(Self::conflict(stage)),
                _ => Ok(()),
            };
        };
        let base = self.base(stage, etag).await?;
        let key = self.record_key(stage);
        let tombstone = Manifest {
            generation: new_generation(),
            objects: BTreeMap::new(),
            removed_at: Some(Timestamp::now()),
        };
        let body = encode(None, &tombstone)?;
        let written = self
            .client
            .put_opts(&key, PutPayload::from(body), PutOptions::from(update(etag)))
            .await;
        let started = Instant::now();
        match written {
            Ok(_) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. }
                | object_store::Error::NotFound { .. },
            ) => match self.etag_if_ours(stage, &tombstone).await {
                Ok(_) => {}
                Err(_) => return Err(Self::conflict(stage)),
            },
            Err(e) => {
                let err = self.error(&e, &format!("writing {}", self.url(&key)));
                self.etag_if_ours(stage, &tombstone)
                    .await
                    .map_err(|_| err)?;
            }
        }
        self.remember(stage, None);
        // The stage is gone; now its objects.
        let files: Vec<Key> = base
            .manifest
            .objects
            .iter()
            .filter_map(|(rel, g)| self.file_key(stage, g, rel).ok())
            .collect();
        let all_deleted = self.delete_keys(&files).await;
        if all_deleted && started.elapsed() < TOMBSTONE_DELETE_WITHIN {
            if let Err(e) = self.client.delete(&key).await {
                tracing::warn!(
                    "stage {stage} is removed, but its tombstone {} stays: {e}",
                    self.url(&key)
                );
            }
        } else {
            tracing::warn!(
                "stage {stage} is removed; its tombstone {} stays until a new write takes it over",
                self.url(&key)
            );
        }
        Ok(())
    }

    /// Deletes objects, best effort: an object left behind is garbage that
    /// no stage object names. True when every one is gone.
    async fn delete_keys(&self, keys: &[Key]) -> bool {
        if keys.is_empty() {
            return true;
        }
        let owned: Vec<Key> = keys.to_vec();
        let paths = stream::iter(owned.into_iter().map(Ok)).boxed();
        let results: Vec<Result<Key, object_store::Error>> =
            self.client.delete_stream(paths).collect().await;
        let mut ok = true;
        for r in results {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    ok = false;
                    tracing::warn!("could not delete an unused state object: {e}");
                }
            }
        }
        ok
    }

    async fn list_async(&self) -> Result<Vec<StateKey>, StoreError> {
        let dir = Key::from(self.stages_dir().as_str());
        let listed = self
            .client
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| self.error(&e, "listing the stages"))?;
        let mut stages: Vec<StateKey> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename())
            .filter_map(StateKey::parse)
            .collect();
        stages.sort();
        stages.dedup();
        Ok(stages)
    }

    async fn records_async(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let stages = self.list_async().await?;
        let read: Vec<(StateKey, Result<Option<StageObject>, StoreError>)> = stream::iter(stages)
            .map(|stage| async move {
                let r = self.read_object(&stage).await;
                (stage, r)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut out = Vec::new();
        for (stage, r) in read {
            match r {
                // Leftovers of an interrupted write or removal: no stage.
                Ok(None) => {}
                Ok(Some(o)) if o.is_tombstone() => {}
                Ok(Some(o)) => out.push((stage, Ok(o.record))),
                Err(e @ StoreError::Corrupt { .. }) => out.push((stage, Err(e))),
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

impl StateStore for S3Store {
    fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("S3 bucket {} at {e}", self.location),
            None => format!("S3 bucket {}", self.location),
        }
    }

    fn load(&self, key: &dyn AsKey) -> Result<Loaded, StoreError> {
        self.rt.block_on(self.load_async(&key.as_key()))
    }

    fn put(
        &self,
        key: &dyn AsKey,
        snapshot: &Snapshot,
        expected: &Version,
        _message: &str,
    ) -> Result<Version, StoreError> {
        self.rt
            .block_on(self.put_async(&key.as_key(), snapshot, expected))
    }

    fn remove(&self, key: &dyn AsKey, expected: &Version) -> Result<(), StoreError> {
        self.rt.block_on(self.remove_async(&key.as_key(), expected))
    }

    fn list(&self) -> Result<Vec<Stage>, StoreError> {
        Ok(super::single_stages(self.keys()?))
    }

    fn keys(&self) -> Result<Vec<StateKey>, StoreError> {
        self.rt.block_on(self.list_async())
    }

    fn records(&self) -> Result<Vec<StageRecord>, StoreError> {
        Ok(super::single_records(self.key_records()?))
    }

    fn key_records(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.rt.block_on(self.records_async())
    }
}

fn absent() -> Loaded {
    Loaded {
        snapshot: Snapshot::default(),
        version: Version::ABSENT,
    }
}

fn empty_manifest() -> Manifest {
    Manifest {
        generation: String::new(),
        objects: BTreeMap::new(),
        removed_at: None,
    }
}

fn update(etag: &str) -> PutMode {
    PutMode::Update(UpdateVersion {
        e_tag: Some(etag.to_owned()),
        version: None,
    })
}

/// `<milliseconds since 1970, hex>-<64 random bits, hex>`: sorts by time
/// and never repeats.
fn new_generation() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:011x}-{:016x}", fastrand::u64(..))
}

fn is_generation(g: &str) -> bool {
    !g.is_empty() && g.len() <= 64 && g.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The stage object: the record's own fields (format 1, as in every store)
/// plus the store's section.
fn encode(record: Option<&Record>, manifest: &Manifest) -> Result<Vec<u8>, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        location: "stage object".into(),
        message: e.to_string(),
    };
    let mut value = match record {
        Some(r) => serde_json::to_value(r).map_err(corrupt)?,
        None => serde_json::Value::Object(serde_json::Map::new()),
    };
    let section = serde_json::to_value(manifest).map_err(corrupt)?;
    if let Some(map) = value.as_object_mut() {
        map.insert(SECTION.into(), section);
    }
    let mut bytes = serde_json::to_vec_pretty(&value).map_err(corrupt)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn decode(bytes: &[u8]) -> Result<(Option<Record>, Manifest), String> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let map = value
        .as_object_mut()
        .ok_or("expected a JSON object (a record and its \"s3\" section)")?;
    let section = map
        .remove(SECTION)
        .ok_or("no \"s3\" section: not a stage object written by alchemy-ci's S3 store")?;
    let manifest: Manifest =
        serde_json::from_value(section).map_err(|e| format!("its \"s3\" section: {e}"))?;
    if !is_generation(&manifest.generation) {
        return Err(format!("{:?} is not a generation", manifest.generation));
    }
    for (rel, g) in &manifest.objects {
        check_rel_path(rel)?;
        if !is_generation(g) {
            return Err(format!(
                "{g:?} (the generation of {rel:?}) is not a generation"
            ));
        }
    }
    let record = if map.is_empty() || manifest.removed_at.is_some() {
        None
    } else {
        let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        Some(Record::from_json(&bytes)?)
    };
    Ok((record, manifest))
}

/// The HTTP status and S3's `<Code>` and `<Message>` behind a client error,
/// as far as they are known, read from the error's text (object_store
/// does not expose its response type). The rest of an error body is left
/// out of messages: it can echo request details.
fn response_of(e: &object_store::Error) -> (Option<u16>, Option<String>, Option<String>) {
    let mut text = String::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        text.push_str(&s.to_string());
        text.push('\n');
        source = s.source();
    }
    let status = text.find("status code: ").and_then(|i| {
        let digits = text.get(i + 13..i + 16)?;
        digits.parse().ok()
    });
    (
        status,
        xml_element(&text, "Code"),
        xml_element(&text, "Message"),
    )
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    let text: String = body[start..end].chars().take(300).collect();
    Some(text)
}

fn describe_response(status: Option<u16>, code: Option<&str>, message: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(s) = status {
        out.push_str(&format!("HTTP {s}"));
    }
    if let Some(c) = code {
        out.push_str(&format!(" {c}"));
    }
    if let Some(m) = message {
        out.push_str(&format!(": {m}"));
    }
    if out.is_empty() {
        out.push_str("no details");
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_strictly() {
        let ok = |s: &str| S3Location::parse(s).expect(s);
        assert_eq!(
            ok("s3://my-bucket/alchemy/state/"),
            S3Location {
                bucket: "my-bucket".into(),
                prefix: "alchemy/state".into()
            }
        );
        assert_eq!(ok("s3://b.example").prefix, "");
        assert_eq!(ok("s3://b.example").to_string(), "s3://b.example");
        for bad in [
            "s3://",
            "s3://ab",
            "s3://Bucket",
            "s3://b_c/x",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "s3://bucket/a b",
            "bucket/x",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn stage_objects_keep_the_record_format_and_refuse_bad_manifests() {
        let stage = Stage::parse_stored("pr-1").expect("stage");
        let record = Record::new(
            stage,
            crate::record::RecordStatus::Deployed,
            Timestamp::from_unix(1_800_000_000),
        );
        let manifest = Manifest {
            generation: "0abc-01".into(),
            objects: BTreeMap::from([("app/pr-1/a.json".into(), "0abc-01".into())]),
            removed_at: None,
        };
        let bytes = encode(Some(&record), &manifest).expect("encode");
        // Any reader of format 1 reads it as a plain record.
        assert_eq!(Record::from_json(&bytes).expect("a record"), record);
        let (r, m) = decode(&bytes).expect("decode");
        assert_eq!((r, m), (Some(record), manifest.clone()));

        let no_record = encode(None, &manifest).expect("encode");
        assert_eq!(decode(&no_record).expect("decode").0, None);

        let mut evil = manifest;
        evil.objects
            .insert("../../.bashrc".into(), "0abc-01".into());
        assert!(decode(&encode(None, &evil).expect("encode")).is_err());
        assert!(decode(b"{\"format\": 1}").is_err());
        assert!(decode(b"not json").is_err());
    }

    #[test]
    fn credentials_come_from_the_three_variables_only() {
        let env = BTreeMap::from([
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
        ]);
        let c = Credentials::from_env(|k| env.get(k).map(|v| (*v).to_owned())).expect("creds");
        assert_eq!(c.access_key_id, "AKIAEXAMPLE");
        assert!(c.session_token.is_none());
        let err = Credentials::from_env(|_| None).err().unwrap_or_default();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    }
}
