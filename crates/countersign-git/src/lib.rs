//! The git adapter: reads revision ranges, diffs and files at a revision with gix, and keeps
//! attestations under `refs/countersign/attestations`. It hands the core owned values only.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use countersign_core::attestation::MAX_ENVELOPE_BYTES;
use countersign_core::evaluate::FoundAttestation;
use countersign_core::model::{
    BlastRadius, ChangeInput, Commit, FileChange, Identity, PullRequest, RecentHistory, TreeChange,
};
use countersign_core::notes::NoteFormat;
pub use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::diff::tree::recorder::Change;

mod attribution;
mod pack_order;
pub mod patch;
mod szz;
pub use szz::{FirstParentIndex, Introduced};

/// The ref that carries attestations, so they travel with `git push` and `git fetch`.
pub const ATTESTATION_REF: &str = "refs/countersign/attestations";

/// Blobs larger than this are not diffed: their lines are counted whole.
const MAX_DIFF_BYTES: usize = 4 * 1024 * 1024;

/// Blobs larger than this are not even read to count lines: each byte counts as a line, an upper
/// bound, so that a size predicate cannot be evaded by one huge file and memory stays bounded.
const MAX_COUNTED_BYTES: u64 = 64 * 1024 * 1024;

/// The largest file [`Repo::read_file_at`] reads.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open git repository {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("cannot resolve revision `{rev}`: {message}")]
    Resolve { rev: String, message: String },
    #[error("revision `{rev}` is ambiguous: it names {}; write the full name of the one you mean", candidates.join(", "))]
    Ambiguous { rev: String, candidates: Vec<String> },
    #[error("{base} and {head} have no common history")]
    NoMergeBase { base: String, head: String },
    #[error(
        "{base} and {head} have no common history in this shallow clone; fetch the whole history (in GitHub \
         Actions: actions/checkout with `fetch-depth: 0`; in GitLab CI: GIT_DEPTH: 0; by hand: git fetch --unshallow)"
    )]
    Shallow { base: String, head: String },
    #[error("git: {context}: {message}")]
    Git { context: String, message: String },
    #[error("{path} at {commit} is {size} bytes, more than the {limit} countersign reads")]
    TooLarge { path: String, commit: String, size: u64, limit: u64 },
    #[error("{what} took longer than its time budget; the gate fails closed (raise it with --time-budget)")]
    OutOfTime { what: String },
}

type Result<T> = std::result::Result<T, Error>;

fn git_error(context: impl Into<String>) -> impl FnOnce(gix::Error) -> Error {
    let context = context.into();
    move |error| Error::Git { context, message: error.to_string() }
}

/// A revision resolved: its commit and the full ref it went through, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub id: ObjectId,
    /// e.g. `refs/remotes/origin/main`; `None` for a commit id or `HEAD`-like names.
    pub reference: Option<String>,
}

/// What the caller knows about a change beyond its revisions.
#[derive(Clone, Debug, Default)]
pub struct ChangeContext {
    /// Reading stops with [`Error::OutOfTime`] after this instant.
    pub deadline: Option<std::time::Instant>,
    pub environment: String,
    pub requester: Option<String>,
    pub source_branch: Option<String>,
    pub target_branch: Option<String>,
    pub pull_request: Option<PullRequest>,
}

/// A tree diff: the files with line counts, the fingerprint entries, and the lines added to each
/// text file (0-based in its new version).
struct TreeDiff {
    files: Vec<FileChange>,
    changes: Vec<TreeChange>,
    added: Vec<(String, Vec<u32>)>,
}

/// Whether a change read finds which commit wrote each added line (see `attribution`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attribute {
    Lines,
    Skip,
}

/// Whether a tree diff counts changed lines or only names the changed paths.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lines {
    Count,
    Skip,
}

/// A repository; clone it to hand one to each worker thread.
#[derive(Clone)]
pub struct Repo {
    repo: gix::Repository,
    path: PathBuf,
}

impl Repo {
    pub fn open(path: &Path) -> Result<Repo> {
        let mut repo =
            gix::open(path).map_err(|error| Error::Open { path: path.to_owned(), message: error.to_string() })?;
        repo.object_cache_size_if_unset(32 * 1024 * 1024);
        Ok(Repo { repo, path: path.to_owned() })
    }

    /// The checked-out work tree, if the repository has one.
    pub fn work_dir(&self) -> Option<PathBuf> {
        self.repo.workdir().map(Path::to_path_buf)
    }

    /// Resolves a revision to the commit it names.
    pub fn resolve(&self, rev: &str) -> Result<ObjectId> {
        Ok(self.resolve_named(rev)?.id)
    }

    /// Resolves a revision to the commit it names, refusing a name that could mean more than
    /// one thing: a tag and a remote branch both called `origin/main`, or a branch whose name
    /// is also a commit id. git would pick one silently; a gate must not let whoever can push a
    /// tag choose which configuration judges a change.
    pub fn resolve_named(&self, rev: &str) -> Result<Resolved> {
        let resolve_error = |message: String| Error::Resolve { rev: rev.to_owned(), message };
        if rev.contains("..") {
            return Err(resolve_error("this is a range; give one revision".to_owned()));
        }
        let name_end = rev.find(['~', '^', ':']).into_iter().chain(rev.find("@{")).min().unwrap_or(rev.len());
        let (name, rest) = rev.split_at(name_end);
        let mut candidates: Vec<(String, ObjectId)> = Vec::new();
        // A full ref name, or a pseudo-ref such as HEAD, names exactly one thing.
        let exact = name.starts_with("refs/")
            || (!name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
        let full_names: Vec<String> = if exact {
            vec![name.to_owned()]
        } else if name.is_empty() || name == "@" {
            Vec::new()
        } else {
            ["refs/", "refs/tags/", "refs/heads/", "refs/remotes/"]
                .iter()
                .map(|prefix| format!("{prefix}{name}"))
                .chain(std::iter::once(format!("refs/remotes/{name}/HEAD")))
                .collect()
        };
        for full in &full_names {
            let Ok(Some(mut reference)) = self.repo.try_find_reference(full.as_str()) else { continue };
            if reference.name().as_bstr() != full.as_bytes() {
                continue;
            }
            if let Ok(id) = reference.peel_to_id() {
                candidates.push((full.clone(), id.detach()));
            }
        }
        let is_hex = (4..=40).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex
            && let Ok(prefix) = gix::hash::Prefix::from_hex(name)
            && let Ok(Some(Ok(id))) = self.repo.objects.lookup_prefix(prefix, None)
        {
            candidates.push((format!("object {id}"), id));
        }
        if candidates.len() > 1 {
            let candidates =
                candidates.iter().map(|(what, id)| format!("{what} ({})", &id.to_string()[..10])).collect();
            return Err(Error::Ambiguous { rev: rev.to_owned(), candidates });
        }
        let (reference, spec) = match candidates.pop() {
            Some((what, _)) if !what.starts_with("object ") => (Some(what.clone()), format!("{what}{rest}")),
            _ => (None, rev.to_owned()),
        };
        let id = self.repo.rev_parse_single(spec.as_str()).map_err(|error| resolve_error(error.to_string()))?;
        let object = id.object().map_err(|error| resolve_error(error.to_string()))?;
        let commit = object.peel_to_commit().map_err(|error| resolve_error(format!("not a commit: {error}")))?;
        Ok(Resolved { id: commit.id, reference })
    }

    /// How many commits reachable from `from` are not reachable from `within`, counting up to
    /// `cap`: e.g. the commits of a base that a head would drop.
    pub fn count_missing(&self, from: ObjectId, within: ObjectId, cap: u64) -> Result<u64> {
        let walk = self.repo.rev_walk([from]).with_hidden([within]).all().map_err(git_error("walk"))?;
        let mut count = 0;
        for info in walk {
            info.map_err(git_error("walk"))?;
            count += 1;
            if count >= cap {
                break;
            }
        }
        Ok(count)
    }

    /// The short branch name a revision spells, when it is a branch (`main`, `origin/main`).
    pub fn branch_name(&self, rev: &str) -> Option<String> {
        let reference = self.repo.try_find_reference(rev).ok()??;
        let name = reference.name().as_bstr().to_str().ok()?.to_owned();
        let short = name.strip_prefix("refs/heads/").or_else(|| {
            name.strip_prefix("refs/remotes/").and_then(|rest| rest.split_once('/').map(|(_, branch)| branch))
        })?;
        Some(short.to_owned())
    }

    /// Reads `merge-base(base, head)..head`: its commits with changed paths, and the net tree diff.
    pub fn read_change(&self, base: &str, head: &str, context: ChangeContext) -> Result<ChangeInput> {
        self.read_change_of(self.resolve(base)?, self.resolve(head)?, base, head, context)
    }

    /// [`Repo::read_change`] of resolved revisions; the names are for messages.
    pub fn read_change_of(
        &self,
        base_id: ObjectId,
        head_id: ObjectId,
        base: &str,
        head: &str,
        context: ChangeContext,
    ) -> Result<ChangeInput> {
        let merge_base = self
            .repo
            .merge_base(base_id, head_id)
            .map_err(git_error("merge-base"))?
            .ok_or_else(|| {
                if self.repo.is_shallow().unwrap_or(false) {
                    Error::Shallow { base: base.to_owned(), head: head.to_owned() }
                } else {
                    Error::NoMergeBase { base: base.to_owned(), head: head.to_owned() }
                }
            })?
            .detach();
        self.read_change_between(Some(merge_base), head_id, context, Lines::Count, Attribute::Lines)
    }

    /// Reads exactly `base..head` (from the empty tree without a base): the commits of `head`
    /// not in `base`, the tree diff between the two, and which commit wrote each added line.
    pub fn read_change_exact(
        &self,
        base: Option<ObjectId>,
        head: ObjectId,
        context: ChangeContext,
    ) -> Result<ChangeInput> {
        self.read_change_between(base, head, context, Lines::Count, Attribute::Lines)
    }

    /// The merge-base of two commits, if they share history.
    pub fn merge_base(&self, one: ObjectId, other: ObjectId) -> Result<Option<ObjectId>> {
        Ok(self.repo.merge_base(one, other).map_err(git_error("merge-base"))?.map(gix::Id::detach))
    }

    /// The tree diff from `base` to `head` with each path's change digest: a fingerprint's
    /// input without the commits.
    pub fn tree_changes(&self, base: Option<ObjectId>, head: ObjectId) -> Result<Vec<TreeChange>> {
        let base_tree = match base {
            Some(base) => self.tree_of(base)?,
            None => ObjectId::empty_tree(self.repo.object_hash()),
        };
        Ok(self.diff_trees(base_tree, self.tree_of(head)?, Lines::Count)?.1)
    }

    /// Reads the change one commit of a first-parent history brought: `commit^1..commit`, i.e. the
    /// commit itself, or for a merge everything it merged. Per-commit paths carry no line counts.
    pub fn read_merged_change(&self, commit: ObjectId, context: ChangeContext) -> Result<ChangeInput> {
        let object = self.repo.find_commit(commit).map_err(git_error(format!("read commit {commit}")))?;
        let first_parent = object.parent_ids().next().map(|id| id.detach());
        self.read_change_between(first_parent, commit, context, Lines::Skip, Attribute::Skip)
    }

    fn read_change_between(
        &self,
        base: Option<ObjectId>,
        head_id: ObjectId,
        context: ChangeContext,
        commit_lines: Lines,
        attribute: Attribute,
    ) -> Result<ChangeInput> {
        let mut commits = Vec::new();
        let walk = self.repo.rev_walk([head_id]).with_hidden(base).all().map_err(git_error("walk"))?;
        let out_of_time = || {
            context
                .deadline
                .is_some_and(|deadline| std::time::Instant::now() > deadline)
                .then(|| Error::OutOfTime { what: "reading the change's commits".to_owned() })
        };
        for info in walk {
            if let Some(error) = out_of_time() {
                return Err(error);
            }
            let info = info.map_err(git_error("walk"))?;
            let mut commit = self.read_commit(info.id)?;
            let parent_tree = match commit.parents.first() {
                Some(parent) => self.tree_of(parse_id(parent)?)?,
                None => ObjectId::empty_tree(self.repo.object_hash()),
            };
            let (files, _) = self.diff_trees(parent_tree, self.tree_of(info.id)?, commit_lines)?;
            commit.files = files;
            commits.push(commit);
        }
        let base_tree = match base {
            Some(base) => self.tree_of(base)?,
            None => ObjectId::empty_tree(self.repo.object_hash()),
        };
        let diff = self.diff_trees_with_added(base_tree, self.tree_of(head_id)?, Lines::Count)?;
        let (files, tree_changes) = (diff.files, diff.changes);
        let (added_lines, notes) = match attribute {
            Attribute::Lines => (self.line_origins(&commits, diff.added)?, self.notes_of(&commits)?),
            Attribute::Skip => (Vec::new(), Vec::new()),
        };
        Ok(ChangeInput {
            repo: self.path.display().to_string(),
            base: base.map_or_else(|| ObjectId::empty_tree(self.repo.object_hash()).to_string(), |id| id.to_string()),
            head: head_id.to_string(),
            environment: context.environment,
            source_branch: context.source_branch,
            target_branch: context.target_branch,
            requester: context.requester,
            pull_request: context.pull_request,
            commits,
            files,
            tree_changes,
            blast: BlastRadius::default(),
            history: None,
            rollback: None,
            plans: Vec::new(),
            config_origin: None,
            added_lines,
            notes,
            recent_fixes: None,
        })
    }

    /// The first-parent chain of `tips` not reachable from `hidden`, newest first: the changes a
    /// branch received, one per merge or direct commit.
    pub fn first_parent_chain(&self, tips: &[ObjectId], hidden: &[ObjectId]) -> Result<Vec<ObjectId>> {
        let walk = self
            .repo
            .rev_walk(tips.iter().copied())
            .with_hidden(hidden.iter().copied())
            .first_parent_only()
            .all()
            .map_err(git_error("walk"))?;
        walk.map(|info| info.map(|info| info.id).map_err(git_error("walk"))).collect()
    }

    /// Commits reachable from `from` with a commit time from `since` on that `wanted` accepts
    /// (before their files are read), each with the paths it changed against its first parent, newest first. The walk
    /// ends early, complete, when `enough` says so after a wanted commit. At most `max_visited`
    /// commits are looked at; the history is incomplete when it was cut there or at a shallow
    /// boundary.
    pub fn recent_history(
        &self,
        from: ObjectId,
        since: i64,
        wanted: impl Fn(&Commit) -> bool,
        mut enough: impl FnMut(&Commit) -> bool,
        max_visited: usize,
    ) -> Result<RecentHistory> {
        let shallow: Vec<ObjectId> = self
            .repo
            .shallow_commits()
            .map_err(|error| Error::Git { context: "read shallow file".to_owned(), message: error.to_string() })?
            .map(|commits| commits.iter().copied().collect())
            .unwrap_or_default();
        let walk = self
            .repo
            .rev_walk([from])
            .sorting(gix::revision::walk::Sorting::ByCommitTimeCutoff {
                order: gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
                seconds: since,
            })
            .all()
            .map_err(git_error("walk"))?;
        let mut history = RecentHistory { commits: Vec::new(), complete: true };
        for (visited, info) in walk.enumerate() {
            let info = info.map_err(git_error("walk"))?;
            if visited == max_visited {
                history.complete = false;
                break;
            }
            if shallow.contains(&info.id) {
                history.complete = false;
            }
            let mut commit = self.read_commit(info.id)?;
            if !wanted(&commit) {
                continue;
            }
            let parent_tree = match commit.parents.first() {
                Some(parent) if !shallow.contains(&info.id) => self.tree_of(parse_id(parent)?)?,
                _ => ObjectId::empty_tree(self.repo.object_hash()),
            };
            commit.files = self.diff_trees(parent_tree, self.tree_of(info.id)?, Lines::Skip)?.0;
            let done = enough(&commit);
            history.commits.push(commit);
            if done {
                break;
            }
        }
        Ok(history)
    }

    /// The commit time of a commit, seconds since the epoch.
    pub fn commit_time(&self, id: ObjectId) -> Result<i64> {
        let commit = self.repo.find_commit(id).map_err(git_error(format!("read commit {id}")))?;
        Ok(commit.time().map_err(git_error(format!("read time of {id}")))?.seconds)
    }

    fn tree_of(&self, commit: ObjectId) -> Result<ObjectId> {
        let commit = self.repo.find_commit(commit).map_err(git_error(format!("read commit {commit}")))?;
        Ok(commit.tree_id().map_err(git_error("read tree id"))?.detach())
    }

    /// Reads one commit without its changed paths.
    pub fn read_commit(&self, id: ObjectId) -> Result<Commit> {
        read_core_commit(&self.repo, id)
    }

    /// Streams every commit reachable from `tips` and not from `hidden`, newest first by commit
    /// time, without diffs. Commits are decoded and mapped on `threads` worker threads while one
    /// thread walks; `sink` receives the mapped values on the calling thread in walk order and
    /// may stop the walk early. Work in flight is bounded, so memory stays constant however long
    /// the history is.
    pub fn walk_map<T: Send>(
        &self,
        tips: &[ObjectId],
        hidden: &[ObjectId],
        threads: usize,
        map: impl Fn(Commit) -> T + Sync,
        mut sink: impl FnMut(T) -> ControlFlow<()>,
    ) -> Result<()> {
        const BATCH: usize = 256;
        let threads = threads.max(1);
        // A whole history needs no walk to decode: the packs' commits are made on every core, in
        // pack order. That beats even the commit-graph walk, and keeps less of the pack in memory.
        if hidden.is_empty()
            && let Some(order) = pack_order::PackOrder::of(&self.repo)
        {
            return self.walk_in_pack_order(&order, tips, threads, map, sink);
        }
        // With a commit-graph the walk reads no commit objects, so workers inflate them in
        // parallel. Without one the walk must inflate every commit to find its parents; then the
        // walker hands the raw commit to the workers instead of having it inflated twice.
        let has_graph = self.repo.commit_graph_if_enabled().ok().flatten().is_some();
        let shared = self.repo.clone().into_sync();
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<WorkItem>)>(threads * 2);
        // Shared by the workers; the first worker that finds nobody listening drops it, which
        // stops the walker even while it waits for room in the channel.
        let batch_rx = std::sync::Mutex::new(Some(batch_rx));
        let (result_tx, result_rx) = std::sync::mpsc::sync_channel::<(usize, Result<Vec<T>>)>(threads * 2);
        std::thread::scope(|scope| {
            let walker = {
                let shared = &shared;
                scope.spawn(move || -> Result<usize> {
                    let mut repo = shared.to_thread_local();
                    repo.object_cache_size(0);
                    let mut seq = 0;
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut send = |item: WorkItem| -> ControlFlow<()> {
                        batch.push(item);
                        if batch.len() == BATCH {
                            if batch_tx.send((seq, std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))).is_err() {
                                return ControlFlow::Break(());
                            }
                            seq += 1;
                        }
                        ControlFlow::Continue(())
                    };
                    if has_graph {
                        let walk = repo
                            .rev_walk(tips.iter().copied())
                            .with_hidden(hidden.iter().copied())
                            .sorting(gix::revision::walk::Sorting::ByCommitTime(Default::default()))
                            .all()
                            .map_err(git_error("walk"))?;
                        for info in walk {
                            if send(WorkItem::Id(info.map_err(git_error("walk"))?.id)).is_break() {
                                return Ok(seq);
                            }
                        }
                    } else {
                        walk_by_commit_time(
                            tips,
                            hidden,
                            |id| read_raw(&repo, id),
                            |id, data| send(WorkItem::Raw(id, data)),
                        )?;
                    }
                    if !batch.is_empty() && batch_tx.send((seq, batch)).is_ok() {
                        seq += 1;
                    }
                    Ok(seq)
                })
            };
            for _ in 0..threads {
                let (shared, batch_rx, result_tx, map) = (&shared, &batch_rx, result_tx.clone(), &map);
                scope.spawn(move || {
                    let mut repo = shared.to_thread_local();
                    // A single pass reads each commit once: an object cache would only cost memory.
                    repo.object_cache_size(0);
                    let stop_walker = || {
                        if let Ok(mut receiver) = batch_rx.lock() {
                            receiver.take();
                        }
                    };
                    loop {
                        let next = batch_rx
                            .lock()
                            .ok()
                            .and_then(|receiver| receiver.as_ref().and_then(|receiver| receiver.recv().ok()));
                        let Some((seq, batch)) = next else { return };
                        let mapped = batch
                            .into_iter()
                            .map(|item| match item {
                                WorkItem::Id(id) => read_core_commit(&repo, id).map(map),
                                WorkItem::Raw(id, data) => decode_commit(id, &data, repo.object_hash()).map(map),
                            })
                            .collect::<Result<Vec<T>>>();
                        if result_tx.send((seq, mapped)).is_err() {
                            stop_walker();
                            return;
                        }
                    }
                });
            }
            drop(result_tx);
            // Results arrive out of order; hold the early ones until their turn.
            let mut pending = std::collections::BTreeMap::new();
            let mut next_seq = 0;
            let mut failure = None;
            let mut stopped = false;
            'receive: for (seq, mapped) in result_rx.iter() {
                pending.insert(seq, mapped);
                while let Some(mapped) = pending.remove(&next_seq) {
                    next_seq += 1;
                    match mapped {
                        Ok(values) => {
                            for value in values {
                                if sink(value).is_break() {
                                    stopped = true;
                                    break 'receive;
                                }
                            }
                        }
                        Err(error) => {
                            failure = Some(error);
                            break 'receive;
                        }
                    }
                }
            }
            // Dropping the receiver stops the workers, which stops the walker.
            drop(result_rx);
            let walked = walker.join().map_err(|_| Error::Git {
                context: "walk".to_owned(),
                message: "the walking thread panicked".to_owned(),
            })?;
            match failure {
                Some(error) => Err(error),
                None if stopped => Ok(()),
                None => walked.and_then(|batches| {
                    if batches == next_seq {
                        Ok(())
                    } else {
                        Err(Error::Git {
                            context: "walk".to_owned(),
                            message: "a worker thread stopped early".to_owned(),
                        })
                    }
                }),
            }
        })
    }

    /// [`Repo::walk_map`] over a whole history, with or without a commit-graph: workers inflate,
    /// decode and map the packs' commits in pack order, while the walk orders what they made and
    /// reads any commit they did not make itself.
    fn walk_in_pack_order<T: Send>(
        &self,
        order: &pack_order::PackOrder,
        tips: &[ObjectId],
        threads: usize,
        map: impl Fn(Commit) -> T + Sync,
        mut sink: impl FnMut(T) -> ControlFlow<()>,
    ) -> Result<()> {
        const BATCH: usize = 256;
        let workshop = pack_order::Workshop::new(order, threads);
        let hash = self.repo.object_hash();
        let shared = self.repo.clone().into_sync();
        let (batch_tx, batch_rx) = std::sync::mpsc::sync_channel::<Vec<T>>(4);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (workshop, map) = (&workshop, &map);
                scope.spawn(move || {
                    let mut inflate = gix::zlib::Inflate::default();
                    let mut buffer = Vec::new();
                    workshop.work(|pack, offset, id| {
                        let entry = pack.entry(offset).ok()?;
                        let no_base = |_: &gix::hash::oid, _: &mut Vec<u8>| Ok(None);
                        let mut no_cache = gix::odb::pack::cache::Never;
                        let outcome =
                            pack.decode_entry(entry, &mut buffer, &mut inflate, &no_base, &mut no_cache).ok()?;
                        if outcome.kind != gix::objs::Kind::Commit {
                            return None;
                        }
                        let decoded = gix::objs::CommitRef::from_bytes(&buffer, hash).ok()?;
                        let time = decoded.committer().ok()?.seconds();
                        let parents = decoded.parents().collect();
                        Some(pack_order::Made { parents, time, value: map(to_core_commit(id, &decoded)) })
                    });
                });
            }
            // The walk has its own thread so that the sink's writing overlaps it.
            let walker = {
                let (workshop, shared, map) = (&workshop, &shared, &map);
                scope.spawn(move || -> Result<()> {
                    // However the walk ends, even in a panic, the workers stop.
                    let _stop = workshop.stop_on_drop();
                    let mut repo = shared.to_thread_local();
                    repo.object_cache_size(0);
                    let read = |id: ObjectId| -> Result<Visited<T>> {
                        if let Some(made) = workshop.take(&id) {
                            return Ok(Visited { parents: made.parents, time: made.time, payload: made.value });
                        }
                        let Visited { parents, time, payload } = read_raw(&repo, id)?;
                        Ok(Visited { parents, time, payload: map(decode_commit(id, &payload, hash)?) })
                    };
                    let mut batch = Vec::with_capacity(BATCH);
                    let walked = walk_by_commit_time(tips, &[], read, |_, value| {
                        batch.push(value);
                        if batch.len() == BATCH && batch_tx.send(std::mem::take(&mut batch)).is_err() {
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    });
                    if walked.is_ok() && !batch.is_empty() {
                        // A sink that stopped early has seen all it wants.
                        let _ = batch_tx.send(batch);
                    }
                    walked
                })
            };
            'receive: for batch in batch_rx.iter() {
                for value in batch {
                    if sink(value).is_break() {
                        break 'receive;
                    }
                }
            }
            // Dropping the receiver stops the walker, which stops the workers.
            drop(batch_rx);
            walker.join().map_err(|_| Error::Git {
                context: "walk".to_owned(),
                message: "the walking thread panicked".to_owned(),
            })?
        })
    }

    /// Resolves `A..B`, `A...B` is refused, and a single revision means all of its history.
    pub fn resolve_range(&self, range: &str) -> Result<(Vec<ObjectId>, Vec<ObjectId>)> {
        if range.contains("...") {
            return Err(Error::Resolve {
                rev: range.to_owned(),
                message: "symmetric ranges are not supported; use A..B".to_owned(),
            });
        }
        match range.split_once("..") {
            Some((from, to)) => {
                let to = if to.is_empty() { "HEAD" } else { to };
                Ok((vec![self.resolve(to)?], vec![self.resolve(from)?]))
            }
            None => Ok((vec![self.resolve(range)?], Vec::new())),
        }
    }

    /// The text of a file at a commit, following symbolic links within the repository; `None`
    /// when it does not exist there. A link that leaves the repository, loops or dangles is an
    /// error: what a link hides cannot be analysed.
    pub fn read_file_following_links(&self, commit: ObjectId, path: &str) -> Result<Option<String>> {
        let tree = self.repo.find_tree(self.tree_of(commit)?).map_err(git_error("read tree"))?;
        let mut current = path.to_owned();
        for _ in 0..MAX_LINK_HOPS {
            let Some(entry) = tree.lookup_entry_by_path(&current).map_err(git_error(format!("look up {current}")))?
            else {
                return if current == path {
                    Ok(None)
                } else {
                    Err(link_error(path, format!("its target {current} does not exist")))
                };
            };
            if entry.mode().is_link() {
                let target = self.blob_data(Some(entry.object_id()))?;
                let target =
                    String::from_utf8(target).map_err(|_| link_error(path, "its target is not UTF-8".to_owned()))?;
                current = join_link(&current, &target)
                    .ok_or_else(|| link_error(path, format!("it points to {target}, outside the repository")))?;
                continue;
            }
            return self.read_file_at(commit, &current);
        }
        Err(link_error(path, format!("it follows more than {MAX_LINK_HOPS} links")))
    }

    /// The text of a file at a commit, or `None` when it does not exist there; a file larger
    /// than [`MAX_FILE_BYTES`] is an error, found from its size before it is read.
    pub fn read_file_at(&self, commit: ObjectId, path: &str) -> Result<Option<String>> {
        self.read_file_at_most(commit, path, MAX_FILE_BYTES)
    }

    /// A file's bytes at a revision when it is small enough to diff; an empty file when it is
    /// larger (its lines then count as written before the change).
    fn read_file_bytes_at(&self, commit: ObjectId, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self.repo.find_tree(self.tree_of(commit)?).map_err(git_error("read tree"))?;
        let Some(entry) = tree.lookup_entry_by_path(path).map_err(git_error(format!("look up {path}")))? else {
            return Ok(None);
        };
        if !entry.mode().is_blob() || self.blob_size(entry.object_id())? > MAX_DIFF_BYTES as u64 {
            return Ok(Some(Vec::new()));
        }
        Ok(Some(self.blob_data(Some(entry.object_id()))?))
    }

    /// [`Repo::read_file_at`] with a limit of its own.
    pub fn read_file_at_most(&self, commit: ObjectId, path: &str, limit: u64) -> Result<Option<String>> {
        let tree = self.repo.find_tree(self.tree_of(commit)?).map_err(git_error("read tree"))?;
        let Some(entry) = tree.lookup_entry_by_path(path).map_err(git_error(format!("look up {path}")))? else {
            return Ok(None);
        };
        if !entry.mode().is_blob() {
            return Ok(None);
        }
        let size = self.blob_size(entry.object_id())?;
        if size > limit {
            let commit = commit.to_string()[..10].to_owned();
            return Err(Error::TooLarge { path: path.to_owned(), commit, size, limit });
        }
        let data = self.blob_data(Some(entry.object_id()))?;
        let text = String::from_utf8(data).map_err(|error| {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|byte| **byte == b'\n').count() + 1;
            Error::Git {
                context: format!("read {path} at {commit}"),
                message: format!("line {line} is not UTF-8 text"),
            }
        })?;
        Ok(Some(text))
    }

    /// The size of a blob from its header, without reading it.
    pub fn blob_size(&self, id: ObjectId) -> Result<u64> {
        Ok(self.repo.find_header(id).map_err(git_error(format!("read the header of {id}")))?.size())
    }

    /// Changed blobs between two trees with line counts, plus the fingerprint entries.
    fn diff_trees(
        &self,
        old_tree: ObjectId,
        new_tree: ObjectId,
        lines: Lines,
    ) -> Result<(Vec<FileChange>, Vec<TreeChange>)> {
        self.diff_trees_with_added(old_tree, new_tree, lines).map(|diff| (diff.files, diff.changes))
    }

    /// [`Repo::diff_trees`], also keeping which lines of each text file were added.
    fn diff_trees_with_added(&self, old_tree: ObjectId, new_tree: ObjectId, lines: Lines) -> Result<TreeDiff> {
        let old = self.repo.find_tree(old_tree).map_err(git_error("read tree"))?;
        let new = self.repo.find_tree(new_tree).map_err(git_error("read tree"))?;
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old.data, self.repo.object_hash()),
            gix::objs::TreeRefIter::from_bytes(&new.data, self.repo.object_hash()),
            gix::diff::tree::State::default(),
            &self.repo.objects,
            &mut recorder,
        )
        .map_err(|error| Error::Git { context: "diff trees".to_owned(), message: error.to_string() })?;
        let mut files = Vec::new();
        let mut tree_changes = Vec::new();
        let mut added_lines = Vec::new();
        for change in recorder.records {
            let (path, old, new, mode) = match change {
                Change::Addition { entry_mode, oid, path, .. } => (path, None, Some((oid, entry_mode)), entry_mode),
                Change::Deletion { entry_mode, oid, path, .. } => (path, Some((oid, entry_mode)), None, entry_mode),
                Change::Modification { previous_entry_mode, previous_oid, entry_mode, oid, path } => {
                    (path, Some((previous_oid, previous_entry_mode)), Some((oid, entry_mode)), entry_mode)
                }
            };
            if mode.is_tree() {
                continue;
            }
            let path_bytes: Vec<u8> = path.to_vec();
            let path = path.to_str_lossy().into_owned();
            let (added, deleted, digest, added_indices) =
                if lines == Lines::Count { self.file_change(old, new)? } else { (0, 0, String::new(), None) };
            if let Some(indices) = added_indices.filter(|indices| !indices.is_empty()) {
                added_lines.push((path.clone(), indices));
            }
            tree_changes.push(TreeChange {
                path_bytes,
                path: path.clone(),
                old_id: old.map(|(id, _)| id.to_string()),
                new_id: new.map(|(id, _)| id.to_string()),
                mode: format!("{:o}", mode.value()),
                digest,
            });
            files.push(FileChange { path, added, deleted, deleted_file: new.is_none() });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(TreeDiff { files, changes: tree_changes, added: added_lines })
    }

    fn blob_data(&self, id: Option<ObjectId>) -> Result<Vec<u8>> {
        match id {
            Some(id) => Ok(self.repo.find_blob(id).map_err(git_error(format!("read blob {id}")))?.take_data()),
            None => Ok(Vec::new()),
        }
    }

    /// Added and deleted lines as `git diff --numstat` counts them, and the digest of the file's
    /// change ([`patch::digest`]). A file git would call binary (a NUL byte near its start) or
    /// one too large to diff counts all its lines as deleted and added, so that size predicates
    /// cannot be evaded by declaring content binary, and is identified by its blob ids.
    fn file_change(
        &self,
        old: Option<(ObjectId, gix::objs::tree::EntryMode)>,
        new: Option<(ObjectId, gix::objs::tree::EntryMode)>,
    ) -> Result<(u32, u32, String, Option<Vec<u32>>)> {
        let mode =
            |side: Option<(ObjectId, gix::objs::tree::EntryMode)>| side.map(|(_, mode)| format!("{:o}", mode.value()));
        let (old_mode, new_mode) = (mode(old), mode(new));
        let by_ids = || {
            patch::digest(
                old_mode.as_deref(),
                new_mode.as_deref(),
                &patch::Content::Blobs {
                    old: old.map(|(id, _)| id.to_string()),
                    new: new.map(|(id, _)| id.to_string()),
                },
            )
        };
        // Links and submodules are compared by id; only regular files are diffed as text.
        let old_blob = old.filter(|(_, mode)| mode.is_blob()).map(|(id, _)| id);
        let new_blob = new.filter(|(_, mode)| mode.is_blob()).map(|(id, _)| id);
        if old.is_some() != old_blob.is_some() || new.is_some() != new_blob.is_some() {
            return Ok((0, 0, by_ids(), None));
        }
        let old_size = old_blob.map(|id| self.blob_size(id)).transpose()?.unwrap_or(0);
        let new_size = new_blob.map(|id| self.blob_size(id)).transpose()?.unwrap_or(0);
        if old_size > MAX_COUNTED_BYTES || new_size > MAX_COUNTED_BYTES {
            let as_lines = |size: u64| u32::try_from(size).unwrap_or(u32::MAX);
            return Ok((as_lines(new_size), as_lines(old_size), by_ids(), None));
        }
        let before = self.blob_data(old_blob)?;
        let after = self.blob_data(new_blob)?;
        let is_binary = |data: &[u8]| data[..data.len().min(8000)].contains(&0);
        if is_binary(&before) || is_binary(&after) || before.len() > MAX_DIFF_BYTES || after.len() > MAX_DIFF_BYTES {
            return Ok((lines_of(&after), lines_of(&before), by_ids(), None));
        }
        let patch = patch::patch(&before, &after);
        let digest = patch::digest(old_mode.as_deref(), new_mode.as_deref(), &patch::Content::Hunks(&patch));
        Ok((patch.added, patch.removed, digest, Some(patch.added_lines)))
    }

    /// Every attestation ever stored in the attestation ref, each blob read once, with the
    /// fingerprint its folder names (statements are looked up by the fingerprint they sign;
    /// the folder only places one that cannot be read).
    /// More than `limit` statements, or more bytes than `byte_limit`, is an error: the ref's
    /// history is read whole (so that a deleted rejection still counts), so it must be bounded.
    pub fn all_attestations(&self, limit: usize, byte_limit: u64) -> Result<Vec<(Option<String>, FoundAttestation)>> {
        let mut bytes = 0u64;
        let Some(tip) = self.attestation_tip()? else { return Ok(Vec::new()) };
        let walk = self.repo.rev_walk([tip]).all().map_err(git_error("walk the attestation ref"))?;
        let mut seen_trees = std::collections::HashSet::new();
        let mut seen_blobs = std::collections::HashSet::new();
        let mut found = Vec::new();
        for info in walk {
            let commit = info.map_err(git_error("walk the attestation ref"))?.id;
            let mut here = Vec::new();
            self.collect_new_blobs(self.tree_of(commit)?, ATTESTATION_REF, &mut seen_trees, &mut here)?;
            for (id, attestation) in here {
                if seen_blobs.insert(id) {
                    bytes += attestation.bytes.len() as u64;
                    if found.len() == limit || bytes > byte_limit {
                        return Err(Error::Git {
                            context: format!("read {ATTESTATION_REF}"),
                            message: format!(
                                "its history holds more than {limit} statements or {byte_limit} bytes, more than \
                                 countersign reads; \
                                 the gate fails closed (a ref this large is not the work of reviewers: look at who \
                                 pushed it)"
                            ),
                        });
                    }
                    let folder = attestation.origin.split('/').nth_back(1).map(|hex| format!("sha256:{hex}"));
                    found.push((folder, attestation));
                }
            }
        }
        Ok(found)
    }

    /// [`Repo::collect_blobs`] skipping trees already seen in another commit of the ref.
    fn collect_new_blobs(
        &self,
        tree_id: ObjectId,
        prefix: &str,
        seen_trees: &mut std::collections::HashSet<ObjectId>,
        found: &mut Vec<(ObjectId, FoundAttestation)>,
    ) -> Result<()> {
        if !seen_trees.insert(tree_id) {
            return Ok(());
        }
        let tree = self.repo.find_tree(tree_id).map_err(git_error("read attestation tree"))?;
        let decoded = tree.decode().map_err(git_error("decode attestation tree"))?;
        let separator = if prefix == ATTESTATION_REF { ':' } else { '/' };
        for entry in &decoded.entries {
            let name = format!("{prefix}{separator}{}", entry.filename);
            let id = entry.oid.to_owned();
            if entry.mode.is_tree() {
                self.collect_new_blobs(id, &name, seen_trees, found)?;
            } else {
                found.push((id, self.read_statement_blob(id, name)));
            }
        }
        Ok(())
    }

    /// A blob of the attestation ref as a statement; anything else in the ref is read as one
    /// too, so that a link or an odd mode cannot hide a rejection: what cannot be read blocks.
    /// Its size is checked before it is read.
    fn read_statement_blob(&self, id: ObjectId, name: String) -> FoundAttestation {
        match self.blob_size(id) {
            Ok(size) if size > MAX_ENVELOPE_BYTES as u64 => FoundAttestation::unreadable(
                name,
                format!("{size} bytes, more than the {MAX_ENVELOPE_BYTES} a statement may have"),
            ),
            Ok(_) => match self.blob_data(Some(id)) {
                Ok(bytes) => FoundAttestation::new(name, bytes),
                Err(error) => FoundAttestation::unreadable(name, error.to_string()),
            },
            Err(error) => FoundAttestation::unreadable(name, error.to_string()),
        }
    }

    /// A value of git's configuration as git reads it (repository, global, system), e.g.
    /// `user.email`.
    pub fn config_value(&self, key: &str) -> Option<String> {
        self.repo.config_snapshot().string(key).map(|value| value.to_string())
    }

    /// Whether the attestation ref exists here.
    pub fn has_attestation_ref(&self) -> Result<bool> {
        Ok(self.attestation_tip()?.is_some())
    }

    /// Whether the repository has the commit (an earlier version's head may have been
    /// force-pushed away).
    pub fn has_commit(&self, id: &str) -> bool {
        ObjectId::from_hex(id.as_bytes()).ok().and_then(|id| self.repo.find_commit(id).ok()).is_some()
    }

    /// How each file of `paths` differs between two commits, as `git diff from to` hunks of at
    /// most `max_lines` lines each; files not diffed as text show no hunks.
    pub fn interdiff(
        &self,
        from: ObjectId,
        to: ObjectId,
        paths: &std::collections::BTreeSet<String>,
        max_lines: usize,
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>> {
        let (_, changes) = self.diff_trees(self.tree_of(from)?, self.tree_of(to)?, Lines::Skip)?;
        let mut out = Vec::new();
        for change in changes.into_iter().filter(|change| paths.contains(&change.path)) {
            let blob = |id: &Option<String>| id.as_deref().and_then(|id| ObjectId::from_hex(id.as_bytes()).ok());
            let (old, new) = (blob(&change.old_id), blob(&change.new_id));
            let sizes_fit = [old, new]
                .iter()
                .flatten()
                .all(|id| self.blob_size(*id).is_ok_and(|size| size <= MAX_DIFF_BYTES as u64));
            let (before, after) =
                if sizes_fit { (self.blob_data(old)?, self.blob_data(new)?) } else { (Vec::new(), Vec::new()) };
            let is_binary = |data: &[u8]| data[..data.len().min(8000)].contains(&0);
            let (patch, truncated) = if sizes_fit && !is_binary(&before) && !is_binary(&after) {
                patch::unified(&patch::patch(&before, &after), max_lines)
            } else {
                (String::new(), false)
            };
            out.push(countersign_core::evaluate::Interdiff { path: change.path, patch, truncated });
        }
        Ok(out)
    }

    /// What changed from an earlier version's head `then` to `head`: the paths of this change
    /// (`ours`) and of the earlier one (from its merge base with `base`), hunk by hunk.
    pub fn changed_since(
        &self,
        then: ObjectId,
        base: ObjectId,
        head: ObjectId,
        mut ours: std::collections::BTreeSet<String>,
        max_lines: usize,
    ) -> Result<Vec<countersign_core::evaluate::Interdiff>> {
        let fork = self.merge_base(then, base)?;
        ours.extend(self.tree_changes(fork, then)?.into_iter().map(|change| change.path));
        self.interdiff(then, head, &ours, max_lines)
    }

    fn attestation_tip(&self) -> Result<Option<ObjectId>> {
        let reference = self.repo.try_find_reference(ATTESTATION_REF).map_err(git_error("read attestation ref"))?;
        let Some(mut reference) = reference else { return Ok(None) };
        let id = reference.peel_to_id().map_err(git_error(format!("peel {ATTESTATION_REF}")))?;
        let object = id.object().map_err(git_error(format!("read {ATTESTATION_REF}")))?;
        if object.kind != gix::object::Kind::Commit {
            return Err(Error::Git {
                context: format!("read {ATTESTATION_REF}"),
                message: format!(
                    "it points at a {} ({}), not a commit; fetch it again from the remote or delete it",
                    object.kind,
                    id.detach()
                ),
            });
        }
        Ok(Some(id.detach()))
    }

    /// Adds one attestation file to the attestation ref in a new commit. The ref update checks
    /// the previous tip, so two writers never overwrite each other silently.
    pub fn append_attestation(
        &self,
        fingerprint: &str,
        file_name: &str,
        contents: &str,
        signer: &Identity,
        time: i64,
    ) -> Result<String> {
        let tip = self.attestation_tip()?;
        let base_tree = match tip {
            Some(tip) => self.tree_of(tip)?,
            None => ObjectId::empty_tree(self.repo.object_hash()),
        };
        let blob = self.repo.write_blob(contents.as_bytes()).map_err(git_error("write attestation"))?.detach();
        let path = format!("{}/{file_name}", fingerprint_dir(fingerprint));
        let mut editor = self.repo.edit_tree(base_tree).map_err(git_error("edit attestation tree"))?;
        editor
            .upsert(path.as_str(), gix::object::tree::EntryKind::Blob, blob)
            .map_err(git_error("edit attestation tree"))?;
        let tree = editor.write().map_err(git_error("write attestation tree"))?.detach();
        let commit = self
            .commit_on(ATTESTATION_REF, signer, time, &format!("countersign: {path}\n"), tree, tip)
            .map_err(git_error("update the attestation ref"))?;
        Ok(format!("{ATTESTATION_REF}:{path} (commit {})", &commit.to_string()[..10]))
    }
}

impl Repo {
    /// The last deployment recorded for `environment`: the record's JSON, and the ref's commit.
    pub fn last_deployment(&self, environment: &str) -> Result<Option<(String, ObjectId)>> {
        let name = deployments_ref(environment);
        let Some(mut reference) =
            self.repo.try_find_reference(name.as_str()).map_err(git_error(format!("read {name}")))?
        else {
            return Ok(None);
        };
        let tip = reference.peel_to_id().map_err(git_error(format!("peel {name}")))?.detach();
        let record =
            self.read_file_at_most(tip, DEPLOYMENT_FILE, MAX_ENVELOPE_BYTES as u64).map_err(|error| Error::Git {
                context: format!("read {name}"),
                message: format!(
                    "{error}; it must be a commit holding {DEPLOYMENT_FILE}, as `countersign deploy` writes it"
                ),
            })?;
        let record = record.ok_or_else(|| Error::Git {
            context: format!("read {name}"),
            message: format!("its commit {tip} holds no {DEPLOYMENT_FILE}; it was not written by `countersign deploy`"),
        })?;
        Ok(Some((record, tip)))
    }

    /// Appends a deployment record to `refs/countersign/deployments/<environment>`: a new
    /// commit on top of the previous record, so the ref keeps the environment's history. The
    /// ref moves only if it still points where it did when read.
    pub fn record_deployment(&self, environment: &str, record: &str, signer: &Identity, time: i64) -> Result<String> {
        let name = deployments_ref(environment);
        gix::validate::reference::name(name.as_str().into()).map_err(|error| Error::Git {
            context: format!("name the ref of environment `{environment}`"),
            message: error.to_string(),
        })?;
        let previous = self.last_deployment(environment)?.map(|(_, tip)| tip);
        let blob = self.repo.write_blob(record.as_bytes()).map_err(git_error("write deployment record"))?.detach();
        let mut editor = self
            .repo
            .edit_tree(ObjectId::empty_tree(self.repo.object_hash()))
            .map_err(git_error("write deployment tree"))?;
        editor
            .upsert(DEPLOYMENT_FILE, gix::object::tree::EntryKind::Blob, blob)
            .map_err(git_error("write deployment tree"))?;
        let tree = editor.write().map_err(git_error("write deployment tree"))?.detach();
        let commit = self
            .commit_on(&name, signer, time, &format!("countersign: deployed to {environment}\n"), tree, previous)
            .map_err(|error| Error::Git {
                context: format!("update {name}"),
                message: format!("{error}; another deployment was recorded meanwhile: fetch it and run again"),
            })?;
        Ok(format!("{name} (commit {})", &commit.to_string()[..10]))
    }
}

impl Repo {
    /// Pushes a local ref of countersign's (attestations, deployments) to `remote`. What others
    /// pushed meanwhile is fetched and kept: attestations are merged file by file (each statement
    /// is its own file, so nothing conflicts); for other refs the push is refused. A push that
    /// loses a race is retried, so nobody signs twice.
    pub fn push_countersign_ref(&self, remote: &str, reference: &str) -> Result<String> {
        let fetched = format!("refs/countersign/fetched/{}", reference.trim_start_matches("refs/countersign/"));
        let mut last_error = String::new();
        for _ in 0..PUSH_ATTEMPTS {
            let fetch =
                run_git(&self.path, &["fetch", "--quiet", "--no-tags", remote, &format!("+{reference}:{fetched}")])?;
            let theirs = if fetch.status.success() {
                Some(self.resolve(&fetched)?)
            } else if String::from_utf8_lossy(&fetch.stderr).contains("couldn't find remote ref") {
                None
            } else {
                return Err(Error::Git {
                    context: format!("fetch {reference} from {remote}"),
                    message: String::from_utf8_lossy(&fetch.stderr).trim().to_owned(),
                });
            };
            let ours = self.resolve(reference)?;
            if let Some(theirs) = theirs.filter(|theirs| *theirs != ours && !self.is_ancestor(*theirs, ours)) {
                if reference != ATTESTATION_REF {
                    return Err(Error::Git {
                        context: format!("push {reference} to {remote}"),
                        message: "the remote recorded something else meanwhile; fetch it, look, and record again"
                            .to_owned(),
                    });
                }
                self.merge_attestations(ours, theirs)?;
            }
            let push = run_git(&self.path, &["push", "--quiet", remote, &format!("{reference}:{reference}")])?;
            if push.status.success() {
                return Ok(format!("{reference} pushed to {remote}"));
            }
            last_error = String::from_utf8_lossy(&push.stderr).trim().to_owned();
            let lost_a_race = ["rejected", "fetch first", "non-fast-forward", "stale info"]
                .iter()
                .any(|sign| last_error.contains(sign));
            if !lost_a_race {
                break;
            }
        }
        Err(Error::Git {
            context: format!("push {reference} to {remote}"),
            message: format!(
                "{last_error}; what you recorded is kept in this clone: run the same command again to push it"
            ),
        })
    }

    /// A commit of `tree` on `reference` by `signer` at `time`; the ref moves only from the
    /// first of `parents` (or from nothing), so two writers never overwrite each other.
    fn commit_on(
        &self,
        reference: &str,
        signer: &Identity,
        time: i64,
        message: &str,
        tree: ObjectId,
        parents: impl IntoIterator<Item = ObjectId>,
    ) -> std::result::Result<ObjectId, gix::Error> {
        let signature = gix::actor::Signature {
            name: signer.name.as_str().into(),
            email: signer.email.as_str().into(),
            time: gix::date::Time::new(time, 0),
        };
        let mut time_buf = gix::date::parse::TimeBuf::default();
        let signature = signature.to_ref(&mut time_buf);
        Ok(self.repo.commit_as(signature, signature, reference, message, tree, parents)?.detach())
    }

    fn is_ancestor(&self, ancestor: ObjectId, of: ObjectId) -> bool {
        self.merge_base(ancestor, of).is_ok_and(|base| base == Some(ancestor))
    }

    /// A commit on top of both attestation histories whose tree holds every file of both.
    fn merge_attestations(&self, ours: ObjectId, theirs: ObjectId) -> Result<()> {
        let mut files = Vec::new();
        self.blobs_under(self.tree_of(ours)?, "", &mut files)?;
        let mut editor = self.repo.edit_tree(self.tree_of(theirs)?).map_err(git_error("merge attestation trees"))?;
        for (path, blob) in files {
            editor
                .upsert(path.as_str(), gix::object::tree::EntryKind::Blob, blob)
                .map_err(git_error("merge attestation trees"))?;
        }
        let tree = editor.write().map_err(git_error("merge attestation trees"))?.detach();
        let signer = Identity::new("countersign", "countersign@countersign.invalid");
        let now = gix::date::Time::now_utc().seconds;
        self.commit_on(ATTESTATION_REF, &signer, now, "countersign: merge attestations\n", tree, [ours, theirs])
            .map_err(git_error("merge attestation histories"))?;
        Ok(())
    }

    fn blobs_under(&self, tree: ObjectId, prefix: &str, out: &mut Vec<(String, ObjectId)>) -> Result<()> {
        let tree = self.repo.find_tree(tree).map_err(git_error("read attestation tree"))?;
        let decoded = tree.decode().map_err(git_error("decode attestation tree"))?;
        for entry in &decoded.entries {
            let path =
                if prefix.is_empty() { entry.filename.to_string() } else { format!("{prefix}/{}", entry.filename) };
            if entry.mode.is_tree() {
                self.blobs_under(entry.oid.to_owned(), &path, out)?;
            } else {
                out.push((path, entry.oid.to_owned()));
            }
        }
        Ok(())
    }
}

/// Pushes that lose a race to another reviewer are retried this many times in all.
const PUSH_ATTEMPTS: usize = 5;

fn run_git(path: &Path, args: &[&str]) -> Result<std::process::Output> {
    std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(args)
        .output()
        .map_err(|error| Error::Git { context: format!("run git {}", args.join(" ")), message: error.to_string() })
}

/// A note larger than this is not read (it counts as unreadable).
const MAX_NOTE_BYTES: u64 = 1024 * 1024;

impl Repo {
    /// Visits the notes of `reference` attached to commits (all of them, or those in `only`),
    /// one at a time, as (commit id, text): only one note is held in memory however many the
    /// ref has. A note that is too large or not UTF-8 comes as an error text for the caller to
    /// report. Nothing when the ref does not exist.
    pub fn for_each_note(
        &self,
        reference: &str,
        only: Option<&std::collections::HashSet<String>>,
        visit: &mut dyn FnMut(String, std::result::Result<String, String>),
    ) -> Result<()> {
        let found = self.repo.try_find_reference(reference).map_err(git_error(format!("read {reference}")))?;
        let Some(mut found) = found else { return Ok(()) };
        let tip = found.peel_to_id().map_err(git_error(format!("peel {reference}")))?.detach();
        self.visit_notes(self.tree_of(tip)?, String::new(), only, visit)
    }

    /// The authorship notes (git-ai, Agent Trace) of these commits.
    fn notes_of(&self, commits: &[Commit]) -> Result<Vec<countersign_core::model::CommitNote>> {
        let wanted: std::collections::HashSet<String> = commits.iter().map(|commit| commit.id.clone()).collect();
        let mut notes = Vec::new();
        for format in [NoteFormat::GitAi, NoteFormat::AgentTrace] {
            self.for_each_note(format.reference(), Some(&wanted), &mut |commit, text| {
                notes.push(countersign_core::model::CommitNote { commit, format, text });
            })?;
        }
        Ok(notes)
    }

    /// Notes trees name each note by its commit's hex id, possibly split into fan-out folders
    /// (`ab/cdef…`).
    fn visit_notes(
        &self,
        tree: ObjectId,
        prefix: String,
        only: Option<&std::collections::HashSet<String>>,
        visit: &mut dyn FnMut(String, std::result::Result<String, String>),
    ) -> Result<()> {
        let tree = self.repo.find_tree(tree).map_err(git_error("read notes tree"))?;
        let decoded = tree.decode().map_err(git_error("decode notes tree"))?;
        for entry in &decoded.entries {
            let name = format!("{prefix}{}", entry.filename);
            if !name.bytes().all(|byte| byte.is_ascii_hexdigit()) || name.len() > 40 {
                continue;
            }
            if entry.mode.is_tree() {
                self.visit_notes(entry.oid.to_owned(), name, only, visit)?;
            } else if name.len() == 40 && only.is_none_or(|only| only.contains(&name)) {
                let id = entry.oid.to_owned();
                let text = match self.blob_size(id)? {
                    size if size > MAX_NOTE_BYTES => Err(format!("{size} bytes, more than the {MAX_NOTE_BYTES} read")),
                    _ => String::from_utf8(self.blob_data(Some(id))?).map_err(|_| "not UTF-8 text".to_owned()),
                };
                visit(name, text);
            }
        }
        Ok(())
    }
}

pub use countersign_core::deployment::deployments_ref;

/// The file of a deployment record's commit.
const DEPLOYMENT_FILE: &str = "deployment.json";

/// Fetches every remote of the repository at `path` with the git CLI (gix is built without
/// network support); a repository without remotes has nothing to fetch.
pub fn fetch_all(path: &Path) -> Result<()> {
    let git = |args: &[&str]| std::process::Command::new("git").arg("-C").arg(path).args(args).output();
    let fetch_error = |message: String| Error::Git { context: format!("fetch in {}", path.display()), message };
    let remotes = git(&["remote"]).map_err(|error| fetch_error(format!("cannot run git: {error}")))?;
    if !remotes.status.success() || remotes.stdout.is_empty() {
        return Ok(());
    }
    let output = git(&["fetch", "--quiet", "--prune", "--all"])
        .map_err(|error| fetch_error(format!("cannot run git: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(fetch_error(String::from_utf8_lossy(&output.stderr).trim().to_owned()))
    }
}

/// Links followed at most when reading a file.
const MAX_LINK_HOPS: usize = 8;

fn link_error(path: &str, message: String) -> Error {
    Error::Git { context: format!("follow the link {path}"), message }
}

/// The path a link at `link` pointing to `target` names, within the repository; `None` when it
/// is absolute or climbs out.
fn join_link(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// One commit for the workers of [`Repo::walk_map`]: an id to read, or a commit the walker
/// already read.
enum WorkItem {
    Id(ObjectId),
    Raw(ObjectId, Vec<u8>),
}

/// A commit waiting in [`walk_by_commit_time`]'s queue, ordered newest first, then first queued
/// first.
struct Queued<P> {
    time: i64,
    order: u64,
    id: ObjectId,
    parents: Vec<ObjectId>,
    payload: P,
}

impl<P> PartialEq for Queued<P> {
    fn eq(&self, other: &Queued<P>) -> bool {
        self.order == other.order
    }
}

impl<P> Eq for Queued<P> {}

impl<P> PartialOrd for Queued<P> {
    fn partial_cmp(&self, other: &Queued<P>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<P> Ord for Queued<P> {
    fn cmp(&self, other: &Queued<P>) -> std::cmp::Ordering {
        self.time.cmp(&other.time).then(other.order.cmp(&self.order))
    }
}

/// What the walk needs to order a commit, and what it hands on once the commit's turn comes.
struct Visited<P> {
    parents: Vec<ObjectId>,
    /// Committer time, what the walk orders by.
    time: i64,
    payload: P,
}

/// Reads a commit's raw bytes with the parents and committer time the walk orders by.
fn read_raw(repo: &gix::Repository, id: ObjectId) -> Result<Visited<Vec<u8>>> {
    let object = repo.find_object(id).map_err(git_error(format!("read commit {id}")))?;
    let mut parents = Vec::new();
    let mut time = 0;
    for token in gix::objs::CommitRefIter::from_bytes(&object.data, repo.object_hash()) {
        let token =
            token.map_err(|error| Error::Git { context: format!("decode commit {id}"), message: error.to_string() })?;
        match token {
            gix::objs::commit::ref_iter::Token::Parent { id } => parents.push(id),
            gix::objs::commit::ref_iter::Token::Committer { signature } => {
                time = signature.seconds();
                break;
            }
            _ => {}
        }
    }
    Ok(Visited { parents, time, payload: object.detach().data })
}

/// Walks commits reachable from `tips` but not from `hidden`, newest committer time first, the
/// order of `git rev-list`, reading each commit once with `read` and handing what it read to
/// `emit`. Used for a whole history in pack order, and for a range without a commit-graph,
/// where the walk has to read every commit anyway.
fn walk_by_commit_time<P>(
    tips: &[ObjectId],
    hidden: &[ObjectId],
    read: impl FnMut(ObjectId) -> Result<Visited<P>>,
    mut emit: impl FnMut(ObjectId, P) -> ControlFlow<()>,
) -> Result<()> {
    let mut walk = TimeWalk::new(read);
    for id in hidden {
        walk.enqueue(*id, true)?;
    }
    for id in tips {
        walk.enqueue(*id, false)?;
    }
    // Once only hidden commits are queued, nothing visible can follow. Like git without its
    // "slop", a commit emitted before a skewed clock reveals it as hidden stays emitted.
    while walk.visible_queued > 0 {
        let Some(commit) = walk.queue.pop() else { break };
        walk.queued.insert(commit.id, false);
        let is_hidden = walk.hidden.contains(&commit.id);
        for parent in &commit.parents {
            walk.enqueue(*parent, is_hidden)?;
        }
        if !is_hidden {
            walk.visible_queued -= 1;
            if emit(commit.id, commit.payload).is_break() {
                break;
            }
        }
    }
    Ok(())
}

/// The state of [`walk_by_commit_time`].
struct TimeWalk<P, R> {
    read: R,
    queue: std::collections::BinaryHeap<Queued<P>>,
    /// Every commit seen so far, and whether it is still waiting in `queue`.
    queued: std::collections::HashMap<ObjectId, bool>,
    /// Commits reachable from a hidden tip.
    hidden: std::collections::HashSet<ObjectId>,
    /// Queued commits that are not hidden: the walk ends when there are none.
    visible_queued: usize,
    order: u64,
}

impl<P, R: FnMut(ObjectId) -> Result<Visited<P>>> TimeWalk<P, R> {
    fn new(read: R) -> TimeWalk<P, R> {
        TimeWalk {
            read,
            queue: std::collections::BinaryHeap::new(),
            queued: std::collections::HashMap::new(),
            hidden: std::collections::HashSet::new(),
            visible_queued: 0,
            order: 0,
        }
    }

    /// Queues a commit once, reading it; `from_hidden` marks it hidden even when already queued.
    fn enqueue(&mut self, id: ObjectId, from_hidden: bool) -> Result<()> {
        if from_hidden && self.hidden.insert(id) && self.queued.get(&id) == Some(&true) {
            self.visible_queued -= 1;
        }
        if self.queued.contains_key(&id) {
            return Ok(());
        }
        let Visited { parents, time, payload } = (self.read)(id)?;
        self.queued.insert(id, true);
        if !self.hidden.contains(&id) {
            self.visible_queued += 1;
        }
        self.order += 1;
        self.queue.push(Queued { time, order: self.order, id, parents, payload });
        Ok(())
    }
}

fn decode_commit(id: ObjectId, data: &[u8], hash: gix::hash::Kind) -> Result<Commit> {
    let decoded = gix::objs::CommitRef::from_bytes(data, hash)
        .map_err(|error| Error::Git { context: format!("decode commit {id}"), message: error.to_string() })?;
    Ok(to_core_commit(id, &decoded))
}

fn read_core_commit(repo: &gix::Repository, id: ObjectId) -> Result<Commit> {
    let object = repo.find_commit(id).map_err(git_error(format!("read commit {id}")))?;
    let decoded = object.decode().map_err(git_error(format!("decode commit {id}")))?;
    Ok(to_core_commit(id, &decoded))
}

/// Attestations live under the fingerprint's hex, split like git's object store.
fn fingerprint_dir(fingerprint: &str) -> String {
    let hex = fingerprint.strip_prefix("sha256:").unwrap_or(fingerprint);
    format!("{}/{}", &hex[..hex.len().min(2)], hex)
}

/// The lines of a blob: its newlines, plus one for a last line without one.
fn lines_of(data: &[u8]) -> u32 {
    let newlines = data.iter().filter(|byte| **byte == b'\n').count();
    let unterminated = usize::from(data.last().is_some_and(|byte| *byte != b'\n'));
    u32::try_from(newlines + unterminated).unwrap_or(u32::MAX)
}

fn parse_id(id: &str) -> Result<ObjectId> {
    ObjectId::from_hex(id.as_bytes())
        .map_err(|error| Error::Git { context: format!("parse id {id}"), message: error.to_string() })
}

fn to_core_commit(id: ObjectId, decoded: &gix::objs::CommitRef<'_>) -> Commit {
    // A malformed signature keeps its raw text as the name, so it shows up as an unknown person.
    // `author()` and `committer()` have already trimmed Unicode whitespace from both fields.
    let identity =
        |parsed: std::result::Result<gix::actor::SignatureRef<'_>, gix::Error>, raw: &gix::bstr::BStr| match parsed {
            Ok(signature) => {
                (Identity::new(signature.name.to_str_lossy(), signature.email.to_str_lossy()), signature.seconds())
            }
            Err(_) => (Identity::new(raw.to_str_lossy(), ""), 0),
        };
    let (author, time) = identity(decoded.author(), decoded.author);
    let (committer, _) = identity(decoded.committer(), decoded.committer);
    Commit {
        id: id.to_string(),
        parents: decoded.parents().map(|parent| parent.to_string()).collect(),
        author,
        committer,
        time,
        message: decoded.message.to_str_lossy().into_owned(),
        files: Vec::new(),
    }
}
