//! Object storage — `s3://`, `gs://`, `az://` (and `file://`) — for a run's output and for
//! source inputs, through the `object_store` crate.
//!
//! Stages keep working on local files: the engine runs against a local *staging* folder and
//! this module moves files between it and the store at the commit points the local engine
//! already has:
//!
//! - **publish**: a split's shards and quarantine file are uploaded first, its marker last; a
//!   stage manifest after all markers; every upload goes to a temporary key
//!   (`…/.NAME.<random>.tmp`) and is then copied to its final key and the temporary deleted.
//!   Object stores have no rename, but a single object appears whole or not at all, so a
//!   reader never sees a torn file, and a marker (the commit point) never appears before the
//!   shards it lists;
//! - **fetch**: before a stage runs, its manifest and markers come down (so a rank resumes
//!   from what every rank committed); an input stage's manifest and then exactly the shards
//!   it lists come down before a consumer reads them.
//!
//! Consistency: S3, GCS and Azure give read-after-write consistency for new objects and
//! strong list consistency, which is all this relies on. Shards, markers and manifests are
//! immutable per fingerprint, except that a rerun with a new config overwrites markers and the
//! manifest of the same name (whole objects, atomically). Stale shards of an older config are
//! not deleted from the store (the manifest never lists them).
//!
//! Credentials and endpoints come from the environment, as the `object_store` builders read
//! them: `AWS_*` (e.g. `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true` for a local server),
//! `GOOGLE_*`, `AZURE_*`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::Error;

/// URL schemes served by an object store.
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "file"];

/// Whether `s` is an object-store URL (`s3://…`, `gs://…`, `az://…`, `file://…`).
pub fn is_url(s: &str) -> bool {
    s.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme))
}

/// A folder in an object store: the output of a run, or a source's input prefix.
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    root: Key,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

fn store_err(url: &str, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: PathBuf::from(url),
        source: std::io::Error::other(e.to_string()),
    }
}

impl Remote {
    /// Opens the store behind `url` (credentials and endpoint from the environment).
    pub fn open(url: &str) -> Result<Remote, Error> {
        let parsed = url::Url::parse(url).map_err(|e| store_err(url, format!("bad URL: {e}")))?;
        let (store, root) = object_store::parse_url_opts(&parsed, std::env::vars())
            .map_err(|e| store_err(url, e))?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| store_err(url, e))?;
        Ok(Remote {
            url: url.trim_end_matches('/').to_string(),
            store: Arc::from(store),
            root,
            rt,
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, rel: &str) -> Key {
        rel.split('/')
            .filter(|p| !p.is_empty())
            .fold(self.root.clone(), |k, part| k.join(part))
    }

    fn shown(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    /// Downloads `rel` to `local` (through a temporary file); `false` when it does not exist.
    pub fn download(&self, rel: &str, local: &Path) -> Result<bool, Error> {
        let key = self.key(rel);
        let bytes = match self.rt.block_on(async {
            let r = self.store.get(&key).await?;
            r.bytes().await
        }) {
            Ok(b) => b,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(store_err(&self.shown(rel), e)),
        };
        crate::markers::write_atomic(local, &bytes)?;
        Ok(true)
    }

    /// Objects under the folder `rel` (recursively): path relative to it, size, modified time.
    pub fn list(&self, rel: &str) -> Result<Vec<(String, u64, std::time::SystemTime)>, Error> {
        let prefix = self.key(rel);
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| store_err(&self.shown(rel), e))?;
        let mut out: Vec<_> = metas
            .into_iter()
            .filter_map(|m| {
                let rest: Vec<String> = m
                    .location
                    .prefix_match(&prefix)?
                    .map(|p| p.as_ref().to_string())
                    .collect();
                Some((rest.join("/"), m.size, m.last_modified.into()))
            })
            .filter(|(r, _, _): &(String, u64, std::time::SystemTime)| {
                !r.is_empty() && !r.rsplit('/').next().unwrap_or("").ends_with(".tmp")
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Downloads every object of folder `rel` into `local` (markers of a stage, say).
    pub fn download_dir(&self, rel: &str, local: &Path) -> Result<usize, Error> {
        let list = self.list(rel)?;
        for (name, size, modified) in &list {
            // With the object's time: `weft merge` picks the newest marker by it.
            self.fetch_as(
                &self.key(&format!("{rel}/{name}")),
                &local.join(name),
                *size,
                *modified,
            )?;
        }
        Ok(list.len())
    }

    /// Uploads `local` to `rel`: to a temporary key first, then copied into place.
    pub fn upload(&self, local: &Path, rel: &str) -> Result<(), Error> {
        let bytes = std::fs::read(local).map_err(|e| Error::io(local, e))?;
        let key = self.key(rel);
        let name = key.filename().unwrap_or("object").to_string();
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let tmp = self.key(&format!("{parent}/.{name}.{:016x}.tmp", rand_suffix()));
        self.rt
            .block_on(async {
                self.store.put(&tmp, PutPayload::from(bytes)).await?;
                self.store.copy(&tmp, &key).await?;
                self.store.delete(&tmp).await
            })
            .map_err(|e| store_err(&self.shown(rel), e))
    }

    /// Deletes `rel` (absent is fine).
    pub fn delete(&self, rel: &str) -> Result<(), Error> {
        match self.rt.block_on(self.store.delete(&self.key(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(&self.shown(rel), e)),
        }
    }

    /// Copies every object under this URL into `local` (same relative paths) unless a file of
    /// the same size and time is there already; each file gets the object's modified time, so
    /// source fingerprints (`path:size:mtime`) agree across machines that mirror it. Files in
    /// `local` whose object has left the store are removed, so every machine sees the same
    /// inputs. A URL naming one object mirrors that object to `local` itself.
    pub fn mirror(&self, local: &Path) -> Result<usize, Error> {
        let list = self.list("")?;
        if list.is_empty() {
            let meta = self
                .rt
                .block_on(self.store.head(&self.root))
                .map_err(|e| store_err(&self.url, format!("no such object or prefix ({e})")))?;
            self.fetch_as(&self.root, local, meta.size, meta.last_modified.into())?;
            return Ok(1);
        }
        for (name, size, modified) in &list {
            self.fetch_as(&self.key(name), &local.join(name), *size, *modified)?;
        }
        let keep: std::collections::BTreeSet<PathBuf> =
            list.iter().map(|(name, _, _)| local.join(name)).collect();
        remove_unlisted(local, &keep)?;
        Ok(list.len())
    }

    fn fetch_as(
        &self,
        key: &Key,
        local: &Path,
        size: u64,
        modified: std::time::SystemTime,
    ) -> Result<(), Error> {
        let same = std::fs::metadata(local)
            .is_ok_and(|m| m.len() == size && m.modified().is_ok_and(|t| t == modified));
        if same {
            return Ok(());
        }
        let bytes = self
            .rt
            .block_on(async { self.store.get(key).await?.bytes().await })
            .map_err(|e| store_err(&format!("{}/{key}", self.url), e))?;
        // The time is set on the temporary file before it is renamed into place: ranks that
        // share a cache folder never see the file with another time (another fingerprint).
        let dir = local.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file()
            .set_modified(modified)
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(local).map_err(|e| Error::io(local, e.error))?;
        Ok(())
    }
}

/// Removes the files under `dir` (recursively) that are not in `keep`, leaving temporary
/// files (`.*.tmp`: another process sharing the folder may be about to rename one).
fn remove_unlisted(dir: &Path, keep: &std::collections::BTreeSet<PathBuf>) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let path = e.path();
        let ty = e.file_type().map_err(|err| Error::io(&path, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if ty.is_dir() {
            remove_unlisted(&path, keep)?;
        } else {
            let temporary = name.starts_with('.') && name.ends_with(".tmp");
            if keep.contains(&path) || temporary {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(&path, err)),
            }
        }
    }
    Ok(())
}

/// A random suffix for temporary keys (ranks on different hosts publish concurrently).
fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Local folder where the source input `url` is mirrored: `<cache>/<scheme>/<bucket>/<path>`,
/// `<cache>` being `$WEFT_CACHE` or `/tmp/weft-cache`. Fingerprints do not depend on it (see
/// [`keep_url_fingerprints`]; source keys are relative to the mirrored folder).
pub fn input_cache_path(url: &str) -> PathBuf {
    local_folder("WEFT_CACHE", "/tmp/weft-cache", url)
}

/// Local staging folder of an output URL: `$WEFT_STAGING` or `/tmp/weft-staging`, then
/// `<scheme>/<bucket>/<path>`.
pub fn staging_path(url: &str) -> PathBuf {
    local_folder("WEFT_STAGING", "/tmp/weft-staging", url)
}

/// `$var` (or `default`), then `<scheme>/<bucket>/<path>` of `url`, without `.`/`..` parts.
fn local_folder(var: &str, default: &str, url: &str) -> PathBuf {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    let (scheme, rest) = url.split_once("://").unwrap_or(("file", url));
    rest.split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .fold(base.join(scheme), |p, part| p.join(part))
}

/// Replaces every object-store URL among the stages' top-level string settings (a source's
/// `path`, `captions`, …) by a local mirror of it (see [`input_cache_path`]), so that stages
/// read local files as always; `file://` URLs become plain paths. Returns what was replaced;
/// hand it to [`keep_url_fingerprints`] once the plan is built.
pub fn mirror_inputs(pf: &mut crate::pipeline_file::PipelineFile) -> Result<Vec<Mirrored>, Error> {
    let mut done = Vec::new();
    for stage in &mut pf.stages {
        let original = stage.config.clone();
        for (key, value) in stage.config.iter_mut() {
            let Some(url) = value.as_str().filter(|s| is_url(s)).map(str::to_string) else {
                continue;
            };
            let local = match url.strip_prefix("file://") {
                Some(path) => PathBuf::from(path),
                None => {
                    let local = input_cache_path(&url);
                    Remote::open(&url)?.mirror(&local)?;
                    local
                }
            };
            *value = toml::Value::String(local.to_string_lossy().into_owned());
            done.push(Mirrored {
                stage: stage.name.clone(),
                key: key.clone(),
                url,
                local,
                original: original.clone(),
            });
        }
    }
    Ok(done)
}

/// A stage setting that named an object-store URL and now names its local mirror.
#[derive(Debug, Clone)]
pub struct Mirrored {
    /// Stage name.
    pub stage: String,
    /// Setting.
    pub key: String,
    /// The URL as written.
    pub url: String,
    /// The local mirror.
    pub local: PathBuf,
    /// The stage's settings as written (URLs, not mirrors).
    pub original: toml::Table,
}

/// Gives every stage whose settings were mirrored the config fingerprint of its settings as
/// written, so that fingerprints (and so markers) do not depend on where a machine keeps its
/// mirror: ranks with different `$WEFT_CACHE` folders still share one run.
pub fn keep_url_fingerprints(plan: &mut crate::plan::Plan, mirrored: &[Mirrored]) {
    for m in mirrored {
        if let Some(st) = plan.stages.iter_mut().find(|s| s.spec.name == m.stage) {
            st.config_fingerprint = crate::fingerprint::digest(&[
                st.spec.kind.as_str(),
                &crate::fingerprint::canonical_config(&m.original),
            ]);
        }
    }
}

/// Replaces the local copies of a run's state — `_run.json`, each stage's manifest and
/// markers, and the rank state files under `_ranks/` — by the store's (for `weft slurm
/// submit`/`status` on an object-store output).
pub fn pull_run_state(remote: &Remote, local: &Path, stages: &[String]) -> Result<(), Error> {
    use weft_shards::manifest::RUN_FILE;
    remote.download(RUN_FILE, &local.join(RUN_FILE))?;
    for stage in stages {
        pull_stage_state(remote, &local.join(stage), stage, true)?;
    }
    let ranks = local.join(crate::cluster::RANKS_DIR);
    let _ = std::fs::remove_dir_all(&ranks);
    remote.download_dir(crate::cluster::RANKS_DIR, &ranks)?;
    Ok(())
}

/// Replaces the local copy `dir` of stage `stage`'s manifest (and, with `markers`, its
/// markers) by the store's; a manifest absent from the store is removed here.
pub fn pull_stage_state(
    remote: &Remote,
    dir: &Path,
    stage: &str,
    markers: bool,
) -> Result<(), Error> {
    use weft_shards::manifest::MANIFEST_FILE;
    let manifest = dir.join(MANIFEST_FILE);
    if !remote.download(&format!("{stage}/{MANIFEST_FILE}"), &manifest)? {
        let _ = std::fs::remove_file(&manifest);
    }
    if markers {
        let local = dir.join(crate::markers::MARKERS_DIR);
        let _ = std::fs::remove_dir_all(&local);
        remote.download_dir(&format!("{stage}/{}", crate::markers::MARKERS_DIR), &local)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(dir: &Path) -> Remote {
        Remote::open(&format!("file://{}", dir.display())).unwrap()
    }

    #[test]
    fn upload_publishes_whole_objects_and_leaves_no_temporary_key() {
        let tmp = tempfile::tempdir().unwrap();
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let r = remote(&bucket);
        let local = tmp.path().join("a.json");
        std::fs::write(&local, b"{\"x\": 1}").unwrap();
        r.upload(&local, "stage/_markers/s000000.json").unwrap();
        assert_eq!(
            std::fs::read(bucket.join("stage/_markers/s000000.json")).unwrap(),
            b"{\"x\": 1}"
        );
        let listed = r.list("stage").unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].0, "_markers/s000000.json");
        assert!(
            !std::fs::read_dir(bucket.join("stage/_markers"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        );
        let back = tmp.path().join("back/m.json");
        assert!(r.download("stage/_markers/s000000.json", &back).unwrap());
        assert!(!r.download("stage/manifest.json", &back).unwrap());
        r.delete("stage/_markers/s000000.json").unwrap();
        r.delete("stage/_markers/s000000.json").unwrap();
        assert!(r.list("stage").unwrap().is_empty());
    }

    #[test]
    fn mirror_copies_a_prefix_with_the_objects_times_and_skips_unchanged_files() {
        let tmp = tempfile::tempdir().unwrap();
        let bucket = tmp.path().join("bucket");
        std::fs::create_dir_all(bucket.join("in/sub")).unwrap();
        std::fs::write(bucket.join("in/a.jpg"), b"aaa").unwrap();
        std::fs::write(bucket.join("in/sub/b.jpg"), b"bb").unwrap();
        let r = Remote::open(&format!("file://{}/in", bucket.display())).unwrap();
        let local = tmp.path().join("mirror");
        assert_eq!(r.mirror(&local).unwrap(), 2);
        assert_eq!(std::fs::read(local.join("sub/b.jpg")).unwrap(), b"bb");
        let t_obj = std::fs::metadata(bucket.join("in/a.jpg"))
            .unwrap()
            .modified()
            .unwrap();
        let t_local = std::fs::metadata(local.join("a.jpg"))
            .unwrap()
            .modified()
            .unwrap();
        let diff = t_obj
            .duration_since(t_local)
            .unwrap_or_else(|e| e.duration());
        assert!(diff.as_secs() < 1, "mirror keeps the object's time");
        // An unchanged file is not fetched again; a changed object is.
        std::fs::write(bucket.join("in/sub/b.jpg"), b"bbbb").unwrap();
        r.mirror(&local).unwrap();
        assert_eq!(std::fs::read(local.join("sub/b.jpg")).unwrap(), b"bbbb");
        // An object deleted from the store leaves the mirror too.
        std::fs::remove_file(bucket.join("in/a.jpg")).unwrap();
        assert_eq!(r.mirror(&local).unwrap(), 1);
        assert!(!local.join("a.jpg").exists(), "stale mirror file kept");
        assert!(local.join("sub/b.jpg").exists());
        // A URL naming one object mirrors that object.
        let one = Remote::open(&format!("file://{}/in/a.jpg", bucket.display())).unwrap();
        std::fs::write(bucket.join("in/a.jpg"), b"aaa").unwrap();
        let f = tmp.path().join("one.jpg");
        assert_eq!(one.mirror(&f).unwrap(), 1);
        assert_eq!(std::fs::read(&f).unwrap(), b"aaa");
    }

    #[test]
    fn url_detection_and_local_paths() {
        assert!(is_url("s3://b/k") && is_url("gs://b") && is_url("az://c/p"));
        assert!(!is_url("photos") && !is_url("http://host/x") && !is_url("/abs/path"));
        let p = input_cache_path("s3://bucket/a/../b/");
        assert!(p.ends_with("s3/bucket/a/b"), "{}", p.display());
    }
}
