//! Group commit for [`super::SqliteStore`]: one thread owns the writing connection and commits
//! every job that is waiting as one transaction, so many carts' changes share one fsync.
//!
//! With `synchronous=FULL` a commit costs one fsync of the WAL, about a millisecond on the
//! disks this runs on; committing each change alone caps a server at about that many changes
//! per second whatever its CPUs. Here the writer takes the first waiting job, then every job
//! queued behind it (up to [`MAX_BATCH`]), and runs them in one `BEGIN IMMEDIATE` ... `COMMIT`:
//!
//! - each job runs inside a savepoint of its own, so a job that errs leaves nothing behind and
//!   the others in its batch are unaffected (each job is atomic, as with a transaction each);
//! - no job's result is handed back before the `COMMIT` that made it durable has returned; when
//!   the commit fails, every job of the batch gets the error (nothing of it is stored);
//! - a job that runs alone costs what it did before: one transaction, one fsync.
//!
//! Jobs see the effects of the jobs before them in the batch, as they would have seen them
//! committed. The thread ends when the last [`GroupCommit`] handle is dropped.

use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::StoreError;

/// The most jobs one transaction commits: bounds the latency a job waits behind others.
pub const MAX_BATCH: usize = 256;

/// What the writer calls once the batch's commit is over, with its outcome.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job: given the connection inside the batch's transaction (or why there is none), does its
/// work in its savepoint and returns how to deliver its result once the batch has committed.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Deliver + Send>;

/// A handle on the writer thread; clones share it.
#[derive(Clone)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer thread, which owns `conn` from now on.
    ///
    /// Errs when the thread cannot be started.
    pub fn start(conn: Connection) -> Result<GroupCommit, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_batches(conn, queue))
            .map_err(|e| StoreError::Backend(format!("cannot start the sqlite writer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `work` on the writing connection, atomically, and resolves with its result once
    /// the transaction it ran in is committed (durably, under `synchronous=FULL`).
    ///
    /// Errs with what `work` errs with (then nothing it wrote is kept), or when the commit
    /// fails or the writer is gone.
    pub async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = conn.and_then(|conn| in_savepoint(conn, work));
            Box::new(move |committed| {
                // The caller may have stopped waiting; its result is then of no use.
                let _ = done.send(committed.and(outcome));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| gone("the sqlite writer has stopped"))?;
        result
            .await
            .map_err(|_| gone("the sqlite writer stopped before it answered"))?
    }
}

fn gone(why: &str) -> StoreError {
    StoreError::Backend(why.to_string())
}

/// The writer thread: each batch is the first waiting job and those queued behind it.
fn write_batches(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
    }
}

/// Runs `batch` in one transaction, then delivers each job's result with the commit's outcome.
fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    let delivers: Vec<Deliver> = match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => batch.into_iter().map(|job| job(Ok(conn))).collect(),
        Err(e) => {
            let why = format!("cannot begin a transaction: {e}");
            batch
                .into_iter()
                .map(|job| job(Err(StoreError::Backend(why.clone()))))
                .collect()
        }
    };
    let committed = if conn.is_autocommit() {
        // BEGIN failed: there is nothing to commit, and every job already has its error.
        Ok(())
    } else {
        conn.execute_batch("COMMIT").map_err(|e| {
            // A failed COMMIT may leave the transaction open; end it so the next batch starts
            // clean. Nothing of this batch is stored.
            let _ = conn.execute_batch("ROLLBACK");
            StoreError::Backend(format!("commit failed: {e}"))
        })
    };
    for deliver in delivers {
        deliver(committed.clone());
    }
}

/// Runs `work` in a savepoint of the open transaction: kept when it succeeds, rolled back when
/// it errs.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT job")
        .map_err(|e| StoreError::Backend(format!("cannot open a savepoint: {e}")))?;
    let outcome = work(conn);
    let end = if outcome.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)
        .map_err(|e| StoreError::Backend(format!("cannot close a savepoint: {e}")))?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, GroupCommit) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let conn = Connection::open(dir.path().join("w.sqlite3")).expect("a database");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
        conn.execute_batch("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .expect("a table");
        (dir, GroupCommit::start(conn).expect("a writer"))
    }

    fn insert(v: i64) -> impl FnOnce(&Connection) -> Result<(), StoreError> {
        move |conn| {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [v])
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(())
        }
    }

    fn count(conn: &Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .map_err(|e| StoreError::Backend(e.to_string()))
    }

    #[tokio::test]
    async fn a_job_that_errs_leaves_nothing_and_the_jobs_beside_it_are_kept() {
        let (_dir, writer) = writer();
        let jobs = (0..50).map(|i| {
            let writer = writer.clone();
            async move {
                if i == 25 {
                    writer
                        .run(|conn| {
                            insert(1000)(conn)?;
                            Err::<(), _>(StoreError::UnknownCart)
                        })
                        .await
                } else {
                    writer.run(insert(i)).await
                }
            }
        });
        let results = futures_util::future::join_all(jobs).await;
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), i != 25, "job {i}: {result:?}");
        }
        assert_eq!(writer.run(count).await.expect("a count"), 49);
        let kept: Option<i64> = writer
            .run(|conn| {
                conn.query_row("SELECT v FROM t WHERE v = 1000", [], |row| row.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(StoreError::Backend(e.to_string())),
                    })
            })
            .await
            .expect("a read");
        assert_eq!(kept, None, "the failed job's insert was rolled back");
    }

    #[tokio::test]
    async fn a_job_whose_statement_fails_does_not_fail_its_batch() {
        let (_dir, writer) = writer();
        writer.run(insert(1)).await.expect("stored");
        let (again, other) = tokio::join!(writer.run(insert(1)), writer.run(insert(2)));
        assert!(again.is_err(), "a duplicate key errs");
        assert!(other.is_ok(), "the job beside it is kept");
        assert_eq!(writer.run(count).await.expect("a count"), 2);
    }
}
