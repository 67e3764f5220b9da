//! A whole history read on every core, with or without a commit-graph. git writes a pack's
//! commits first and newest first, nearly the order the walk emits them, so workers inflate and
//! map the packs' commits in that order, a bounded window ahead of the walk, while the walk only
//! orders what they made. The pack order is a hint: a commit the workers did not make (loose, in
//! another store, dropped from the window) is read by the walk itself, so the output is the same.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use gix::ObjectId;
use gix::odb::pack;

/// Commits are inflated and mapped in chunks of this many.
const CHUNK: usize = 256;
/// How many chunks the workers may run ahead of the furthest one the walk has asked for.
const AHEAD: usize = 8;
/// At most this many finished chunks are kept; the oldest is dropped first, and the walk reads
/// its commits again if it ever reaches them. This bounds memory whatever the pack order.
const HELD: usize = 48;
/// A pack's commit region ends at a run of this many entries without a commit.
const REGION_END: usize = 2048;
/// Delta chains longer than this are not followed to learn an entry's type.
const MAX_CHAIN: usize = 64;
/// A pack mapping is dropped and made again after this many entries are read through it.
const REMAP_EVERY: usize = 4096;

/// A commit of a pack, in the order the pack stores it.
struct Planned {
    pack: u32,
    offset: u64,
    id: ObjectId,
}

struct Pack {
    index: pack::index::File,
    data: std::path::PathBuf,
    /// This pack's part of [`PackOrder::commits`], ascending offsets.
    commits: std::ops::Range<usize>,
}

/// The packs' commits in pack order.
pub(crate) struct PackOrder {
    packs: Vec<Pack>,
    commits: Vec<Planned>,
    hash: gix::hash::Kind,
}

impl PackOrder {
    /// The commits of the repository's own packs, newest pack first; `None` when there are none
    /// or when replace refs could make a packed object differ from what git shows.
    pub(crate) fn of(repo: &gix::Repository) -> Option<PackOrder> {
        let store = repo.objects.store_ref();
        if store.replacements().next().is_some() {
            return None;
        }
        let mut indices: Vec<(std::time::SystemTime, std::path::PathBuf)> =
            std::fs::read_dir(store.path().join("pack"))
                .ok()?
                .filter_map(|entry| {
                    let path = entry.ok()?.path();
                    let modified = path.metadata().ok()?.modified().ok()?;
                    (path.extension()? == "idx").then_some((modified, path))
                })
                .collect();
        indices.sort_by(|one, other| other.cmp(one));
        let hash = repo.object_hash();
        let mut order = PackOrder { packs: Vec::new(), commits: Vec::new(), hash };
        for (_, index_path) in indices {
            let data = index_path.with_extension("pack");
            let (Ok(index), Ok(pack)) = (pack::index::File::at(&index_path, hash), u32::try_from(order.packs.len()))
            else {
                continue;
            };
            let start = order.commits.len();
            let mut mapping = Mapping::new(&data, hash);
            add_commit_region(&index, &mut mapping, &index_path, |entry, offset| {
                order.commits.push(Planned { pack, offset, id: index.oid_at_index(entry).to_owned() });
            });
            // Pack order is offset order; this only reorders anything when a reverse index lied.
            order.commits[start..].sort_unstable_by_key(|commit| commit.offset);
            order.packs.push(Pack { index, data, commits: start..order.commits.len() });
        }
        (!order.commits.is_empty()).then_some(order)
    }

    fn chunks(&self) -> usize {
        self.commits.len().div_ceil(CHUNK)
    }

    /// Where the commit `id` is in pack order, looked up as git looks up objects: in the first
    /// pack that has it.
    fn position(&self, id: &ObjectId) -> Option<usize> {
        let (pack, entry) = self.packs.iter().find_map(|pack| Some((pack, pack.index.lookup(id)?)))?;
        let offset = pack.index.pack_offset_at_index(entry);
        let at = self.commits[pack.commits.clone()].binary_search_by_key(&offset, |commit| commit.offset).ok()?;
        Some(pack.commits.start + at)
    }
}

/// Hands on the commits at the start of a pack, in pack order, up to the first long run without
/// one: their index entries and offsets.
fn add_commit_region(
    index: &pack::index::File,
    data: &mut Mapping<'_>,
    index_path: &std::path::Path,
    mut add: impl FnMut(u32, u64),
) {
    let mut since_commit = 0;
    for entry in pack_order(index, index_path) {
        let offset = index.pack_offset_at_index(entry);
        if is_commit_at(index, data, offset) {
            add(entry, offset);
            since_commit = 0;
        } else {
            since_commit += 1;
            if since_commit == REGION_END {
                break;
            }
        }
    }
}

/// Whether the entry at `offset` is a commit, following delta chains through entry headers only.
fn is_commit_at(index: &pack::index::File, data: &mut Mapping<'_>, mut offset: u64) -> bool {
    use pack::data::entry::Header;
    for _ in 0..MAX_CHAIN {
        let Some(Ok(entry)) = data.file().map(|file| file.entry(offset)) else { return false };
        offset = match entry.header {
            Header::Commit => return true,
            Header::Tree | Header::Blob | Header::Tag => return false,
            Header::OfsDelta { base_distance } => match Header::verified_base_pack_offset(offset, base_distance) {
                Some(base) => base,
                None => return false,
            },
            Header::RefDelta { base_id } => match index.lookup(base_id) {
                Some(base) => index.pack_offset_at_index(base),
                None => return false,
            },
        };
    }
    false
}

/// A pack's data mapped for a while. The pages a mapping read stay counted in the process's
/// memory until it is dropped, so a pass over every commit of a pack maps it again now and then
/// instead of keeping the whole pack resident, as one long-lived mapping would.
struct Mapping<'path> {
    path: &'path std::path::Path,
    hash: gix::hash::Kind,
    file: Option<pack::data::File>,
    reads: usize,
}

impl<'path> Mapping<'path> {
    fn new(path: &'path std::path::Path, hash: gix::hash::Kind) -> Mapping<'path> {
        Mapping { path, hash, file: None, reads: 0 }
    }

    fn file(&mut self) -> Option<&pack::data::File> {
        if self.reads == REMAP_EVERY {
            self.file = None;
            self.reads = 0;
        }
        self.reads += 1;
        if self.file.is_none() {
            self.file = pack::data::File::at(self.path, self.hash).ok();
        }
        self.file.as_ref()
    }
}

/// The index's entries in pack order: read as needed from git's reverse index (`.rev`, written by
/// default since git 2.41) when it is there, otherwise by sorting the offsets.
fn pack_order(index: &pack::index::File, index_path: &std::path::Path) -> Box<dyn Iterator<Item = u32>> {
    use std::io::Read;
    let count = index.num_objects();
    let reverse = std::fs::File::open(index_path.with_extension("rev")).ok().and_then(|file| {
        let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
        let mut header = [0; 12];
        reader.read_exact(&mut header).ok()?;
        (header.starts_with(b"RIDX") && header[4..8] == [0, 0, 0, 1]).then_some(reader)
    });
    if let Some(mut reader) = reverse {
        // A position out of range, or the end of the file, ends the region early: only a hint.
        return Box::new((0..count).map_while(move |_| {
            let mut word = [0; 4];
            reader.read_exact(&mut word).ok()?;
            Some(u32::from_be_bytes(word)).filter(|position| *position < count)
        }));
    }
    let by_offset: Vec<(u64, u32)> = (0..count).map(|entry| (index.pack_offset_at_index(entry), entry)).collect();
    Box::new(SortedAsNeeded { first: by_offset.len().div_ceil(16), items: by_offset, sorted: 0, next: 0 })
}

/// Ascending offsets, sorted a growing part at a time: the commit region is the start of a pack,
/// so most of the entries, the trees and blobs after it, are never sorted.
struct SortedAsNeeded {
    items: Vec<(u64, u32)>,
    first: usize,
    sorted: usize,
    next: usize,
}

impl Iterator for SortedAsNeeded {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.next == self.sorted {
            let rest = &mut self.items[self.sorted..];
            if rest.is_empty() {
                return None;
            }
            let part = self.first.max(self.sorted).min(rest.len());
            if part < rest.len() {
                rest.select_nth_unstable(part);
            }
            rest[..part].sort_unstable();
            self.sorted += part;
        }
        self.next += 1;
        Some(self.items[self.next - 1].1)
    }
}

/// A commit read by a worker: what the walk needs to order it, and the mapped value.
pub(crate) struct Made<T> {
    pub(crate) parents: Vec<ObjectId>,
    pub(crate) time: i64,
    pub(crate) value: T,
}

struct Chunk<T> {
    made: Vec<Option<Made<T>>>,
    left: usize,
}

struct Shelf<T> {
    finished: BTreeMap<usize, Chunk<T>>,
    /// Chunks that were finished, whether still held or dropped.
    done: Vec<bool>,
    next_claim: usize,
    /// The furthest chunk the walk has asked for.
    wanted: usize,
    workers: usize,
    stop: bool,
}

/// The chunks the workers made, shared with the walk.
pub(crate) struct Workshop<'plan, T> {
    order: &'plan PackOrder,
    shelf: Mutex<Shelf<T>>,
    changed: Condvar,
    /// Where the walk's next commit most likely is: just after the last one it took.
    hint: AtomicUsize,
}

impl<'plan, T> Workshop<'plan, T> {
    pub(crate) fn new(order: &'plan PackOrder, workers: usize) -> Workshop<'plan, T> {
        let shelf = Shelf {
            finished: BTreeMap::new(),
            done: vec![false; order.chunks()],
            next_claim: 0,
            wanted: 0,
            workers,
            stop: false,
        };
        Workshop { order, shelf: Mutex::new(shelf), changed: Condvar::new(), hint: AtomicUsize::new(0) }
    }

    fn shelf(&self) -> MutexGuard<'_, Shelf<T>> {
        // A worker that panicked holds no invariant the walk relies on: the walk reads directly.
        self.shelf.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one worker until every chunk is made or the walk stops: `make` reads one commit.
    pub(crate) fn work(&self, mut make: impl FnMut(&pack::data::File, u64, ObjectId) -> Option<Made<T>>) {
        struct Leaving<'shop, 'plan, T>(&'shop Workshop<'plan, T>);
        impl<T> Drop for Leaving<'_, '_, T> {
            fn drop(&mut self) {
                let mut shelf = self.0.shelf();
                shelf.workers -= 1;
                // A worker that panicked leaves a chunk claimed and never finished: nobody waits for it.
                shelf.stop |= std::thread::panicking();
                drop(shelf);
                self.0.changed.notify_all();
            }
        }
        let _leaving = Leaving(self);
        let chunks = self.order.chunks();
        loop {
            let chunk = {
                let mut shelf = self.shelf();
                loop {
                    if shelf.stop || shelf.next_claim == chunks {
                        return;
                    }
                    if shelf.next_claim <= shelf.wanted + AHEAD {
                        shelf.next_claim += 1;
                        break shelf.next_claim - 1;
                    }
                    shelf = self.changed.wait(shelf).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let planned = &self.order.commits[chunk * CHUNK..((chunk + 1) * CHUNK).min(self.order.commits.len())];
            // Mapped for this chunk only, so that the pages it read leave memory with it.
            let mut mappings: Vec<(u32, Mapping<'_>)> = Vec::new();
            let made: Vec<Option<Made<T>>> = planned
                .iter()
                .map(|commit| {
                    let pack = &self.order.packs[commit.pack as usize];
                    let at = match mappings.iter().position(|(mapped, _)| *mapped == commit.pack) {
                        Some(at) => at,
                        None => {
                            mappings.push((commit.pack, Mapping::new(&pack.data, self.order.hash)));
                            mappings.len() - 1
                        }
                    };
                    let file = mappings[at].1.file()?;
                    make(file, commit.offset, commit.id)
                })
                .collect();
            drop(mappings);
            let left = made.iter().filter(|made| made.is_some()).count();
            let mut shelf = self.shelf();
            shelf.done[chunk] = true;
            shelf.finished.insert(chunk, Chunk { made, left });
            while shelf.finished.len() > HELD {
                shelf.finished.pop_first();
            }
            drop(shelf);
            self.changed.notify_all();
        }
    }

    /// The commit `id` as a worker made it, waiting for its chunk; `None` when the walk must
    /// read it itself.
    pub(crate) fn take(&self, id: &ObjectId) -> Option<Made<T>> {
        let position = self.position(id)?;
        let (chunk, at) = (position / CHUNK, position % CHUNK);
        let mut shelf = self.shelf();
        // The walk reads a merge's parents long before it emits them; one far ahead (an old
        // topic branch) is read directly rather than sending the workers past what comes first.
        if chunk > shelf.wanted + AHEAD {
            return None;
        }
        if shelf.wanted < chunk {
            shelf.wanted = chunk;
            self.changed.notify_all();
        }
        while !shelf.done[chunk] {
            if shelf.workers == 0 || shelf.stop {
                return None;
            }
            shelf = self.changed.wait(shelf).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let held = shelf.finished.get_mut(&chunk)?;
        let made = held.made[at].take()?;
        held.left -= 1;
        if held.left == 0 {
            shelf.finished.remove(&chunk);
        }
        Some(made)
    }

    /// Where `id` is in pack order: usually close after the last commit taken, which spares a
    /// search of the pack index.
    fn position(&self, id: &ObjectId) -> Option<usize> {
        let commits = &self.order.commits;
        let hint = self.hint.load(Ordering::Relaxed);
        let near = hint.saturating_sub(4)..(hint + 12).min(commits.len());
        let position = near.into_iter().find(|at| commits[*at].id == *id).or_else(|| self.order.position(id))?;
        self.hint.store(position + 1, Ordering::Relaxed);
        Some(position)
    }

    /// Stops the workers when the returned guard is dropped: the walk is over, or it panicked.
    pub(crate) fn stop_on_drop(&self) -> impl Drop + '_ {
        struct Stop<'shop, 'plan, T>(&'shop Workshop<'plan, T>);
        impl<T> Drop for Stop<'_, '_, T> {
            fn drop(&mut self) {
                self.0.shelf().stop = true;
                self.0.changed.notify_all();
            }
        }
        Stop(self)
    }
}
