//! The one writer of a server process. Requests queue here; the writer takes everything queued,
//! applies it in one transaction under the database's writer lock and answers each request only
//! after the commit, so an acknowledged write is durable and a failed one left no trace.

use std::sync::Arc;
use std::time::Duration;

use countersign_core::attestation::Verdict;
use countersign_core::lifecycle::AuditAction;
use countersign_store::{ChangeRow, OverrideRow, StatementRow, Store, StoreError, WriteTx};
use ssh_key::PrivateKey;
use tokio::sync::{mpsc, oneshot};

use crate::api::ApiError;
use crate::batch::BatchTx;
use crate::logic::{self, Event};
use crate::{AppState, ChangeRequest, Prepared, Settings, now_millis};

/// A write, with what it needs to evaluate the change it touches.
pub enum Op {
    Register {
        caller: String,
        name: Option<String>,
        prepared: Arc<Prepared>,
    },
    Review {
        caller: String,
        repository: String,
        environment: String,
        fingerprint: String,
        verdict: Verdict,
        comment: String,
        /// Digests of the plans the reviewer saw.
        plans: Vec<String>,
        /// The changed files the web interface saw the reviewer open.
        opened: Vec<String>,
        /// The registration reviewed, when the caller knows it (the web page, a pull request).
        change_id: Option<i64>,
        prepared: Option<Arc<Prepared>>,
        /// Signed by the request handler, off the writer's serial path; used when it still
        /// names the change's current head.
        presigned: Option<Presigned>,
    },
    Override {
        caller: String,
        repository: String,
        environment: String,
        fingerprint: String,
        reason: String,
        prepared: Option<Arc<Prepared>>,
    },
    CompleteReview {
        caller: String,
        override_id: i64,
        comment: String,
        prepared: Option<Arc<Prepared>>,
    },
    Deploy {
        caller: String,
        change_id: i64,
        prepared: Option<Arc<Prepared>>,
    },
    Pick {
        caller: String,
        assignment_id: i64,
    },
    Away {
        caller: String,
        away: bool,
        until: Option<i64>,
        note: String,
    },
    /// A refusal decided before the writer, e.g. a revoked token: only recorded.
    Refuse {
        actor: String,
        action: AuditAction,
        /// What it was about: `auth`, or the change a refused form named.
        subject: String,
        detail: serde_json::Value,
    },
    Escalate,
    /// A web sign-in: the session to store.
    SignIn {
        session: countersign_store::SessionRow,
    },
    SignOut {
        person: String,
        hash: String,
    },
    /// Records what reached a default branch without an allowed decision.
    Bypass {
        change_id: i64,
        detail: serde_json::Value,
    },
    /// A reviewer opened a changed file on a change's page.
    OpenFile {
        person: String,
        change_id: i64,
        path: String,
    },
}

impl Op {
    /// The change a write is about, when the request names it: read up front for the batch.
    fn change_key(&self) -> Option<(String, String, String)> {
        match self {
            Op::Register { prepared, .. } => Some((
                prepared.request.repository.clone(),
                prepared.request.environment.clone(),
                prepared.analysis.change.fingerprint.clone(),
            )),
            Op::Review { repository, environment, fingerprint, .. }
            | Op::Override { repository, environment, fingerprint, .. } => {
                Some((repository.clone(), environment.clone(), fingerprint.clone()))
            }
            _ => None,
        }
    }
}

/// A statement signed ahead of the transaction.
#[derive(Clone, Debug)]
pub struct Presigned {
    pub change_id: i64,
    pub head: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub statement: String,
    pub signature: String,
}

/// Why a write was refused: recorded in the audit log and answered with 403.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

pub enum Outcome {
    Change(ChangeRow),
    Recorded {
        statement: StatementRow,
        change: ChangeRow,
        duplicate: bool,
    },
    Overridden {
        override_row: OverrideRow,
        change: ChangeRow,
    },
    Reviewed(OverrideRow),
    Refused(Refusal),
    /// The prepared analysis does not match the change as stored: prepare this and retry.
    Stale(ChangeRequest),
    NotFound(String),
    Done,
}

struct Job {
    op: Op,
    reply: oneshot::Sender<Result<Outcome, StoreError>>,
}

#[derive(Clone)]
pub struct Handle {
    sender: mpsc::Sender<Job>,
}

impl Handle {
    pub async fn submit(&self, op: Op) -> Result<Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.sender.send(Job { op, reply }).await.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
        match answer.await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => Err(ApiError::store(error)),
            Err(_) => Err(ApiError::unavailable("the writer stopped before answering; the write was not recorded")),
        }
    }
}

pub fn spawn<S: Store>(store: S, key: Arc<PrivateKey>, settings: Settings) -> Handle {
    let (sender, receiver) = mpsc::channel(settings.max_batch * 4);
    tokio::spawn(run(store, key, settings, receiver));
    Handle { sender }
}

async fn run<S: Store>(store: S, key: Arc<PrivateKey>, settings: Settings, mut receiver: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(settings.max_batch);
    let mut verified = logic::Verified::default();
    let mut checkpoints = Checkpoints::open(settings.checkpoints.as_deref());
    while receiver.recv_many(&mut batch, settings.max_batch).await > 0 {
        let jobs = std::mem::take(&mut batch);
        match apply(&store, &key, &settings, &mut verified, &jobs).await {
            Ok((outcomes, events, last_audit)) => {
                checkpoints.record(&key, last_audit, receiver.is_empty());
                logic::emit(events);
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // One failing write must not fail the others queued with it: retry each alone.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let result = apply(&store, &key, &settings, &mut verified, std::slice::from_ref(&job)).await;
                    let _ = job.reply.send(result.map(|(mut outcomes, events, last_audit)| {
                        checkpoints.record(&key, last_audit, false);
                        logic::emit(events);
                        outcomes.pop().unwrap_or(Outcome::Done)
                    }));
                }
                checkpoints.record(&key, None, receiver.is_empty());
            }
            Err(error) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Invalid(error.to_string())));
                }
            }
        }
    }
}

/// [`apply_batch`], with a panic in one batch answered as that batch's failure: one hostile or
/// buggy write must not take the writer, and with it every later write, down.
async fn apply<S: Store>(
    store: &S,
    key: &PrivateKey,
    settings: &Settings,
    verified: &mut logic::Verified,
    jobs: &[Job],
) -> Result<(Vec<Outcome>, Vec<Event>, Option<(i64, String)>), StoreError> {
    use futures_util::FutureExt as _;
    match std::panic::AssertUnwindSafe(apply_batch(store, key, settings, verified, jobs)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Invalid("the write failed inside the server and was not recorded".to_owned())),
    }
}

async fn apply_batch<S: Store>(
    store: &S,
    key: &PrivateKey,
    settings: &Settings,
    verified: &mut logic::Verified,
    jobs: &[Job],
) -> Result<(Vec<Outcome>, Vec<Event>, Option<(i64, String)>), StoreError> {
    let mut tx = BatchTx::new(store.begin().await?);
    tx.prefetch(jobs.iter().filter_map(|job| job.op.change_key()).collect()).await?;
    let mut context = logic::Context { key, verified, settings, now: now_millis(), events: Vec::new() };
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(logic::apply(&mut tx, &mut context, &job.op).await?);
    }
    let last_audit = tx.last_audit();
    tx.commit().await?;
    Ok((outcomes, context.events, last_audit))
}

/// Signed checkpoints of the audit chain, appended to a file outside the database: whenever the
/// writer falls idle after extending the chain, before it answers, and at least once a second
/// under load. The file is synced at most once a second: a crash may lose the last second's
/// checkpoints, never the writes themselves (those are in the database).
struct Checkpoints {
    file: Option<(std::path::PathBuf, std::fs::File)>,
    last_written: std::time::Instant,
    last_synced: std::time::Instant,
    /// The chain's end not yet checkpointed.
    pending: Option<(i64, String)>,
}

const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

impl Checkpoints {
    fn open(path: Option<&std::path::Path>) -> Checkpoints {
        let file = path.and_then(|path| match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Some((path.to_path_buf(), file)),
            Err(error) => {
                tracing_warn(&format!("cannot open the checkpoint file {}: {error}", path.display()));
                None
            }
        });
        let now = std::time::Instant::now();
        Checkpoints { file, last_written: now, last_synced: now, pending: None }
    }

    /// Notes the chain's new end, and writes it when the writer is idle or a second has passed.
    fn record(&mut self, key: &PrivateKey, last_audit: Option<(i64, String)>, idle: bool) {
        use std::io::Write as _;
        if last_audit.is_some() {
            self.pending = last_audit;
        }
        if !idle && self.last_written.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        let (Some((path, file)), Some((seq, hash))) = (&mut self.file, self.pending.take()) else { return };
        let written = countersign_core::audit::Checkpoint::sign(seq, &hash, now_millis(), key)
            .map_err(|error| error.to_string())
            .and_then(|checkpoint| serde_json::to_string(&checkpoint).map_err(|error| error.to_string()))
            .and_then(|line| writeln!(file, "{line}").map_err(|error| error.to_string()));
        if let Err(error) = written {
            tracing_warn(&format!("cannot write a checkpoint to {}: {error}", path.display()));
        }
        self.last_written = std::time::Instant::now();
        if self.last_synced.elapsed() >= CHECKPOINT_EVERY {
            // Best effort: a checkpoint the disk loses weakens detection of the last second only.
            let _ = file.sync_data();
            self.last_synced = std::time::Instant::now();
        }
    }
}

/// The server has no logger of its own; a checkpoint it cannot write is said on stderr.
pub(crate) fn tracing_warn(message: &str) {
    eprintln!("countersign: warning: {message}");
}

/// Escalates reviews nobody picked up, every `sweep_every`.
pub fn spawn_sweeper<S: Store>(state: Arc<AppState<S>>) {
    let every = state.settings.sweep_every.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if state.writer.submit(Op::Escalate).await.is_err() {
                tokio::time::sleep(every).await;
            }
        }
    });
}
