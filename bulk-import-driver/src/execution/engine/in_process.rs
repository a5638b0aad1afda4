//! Plans run by DataFusion in this process, without Ballista: the embedded default.
//!
//! Ballista cuts a plan into stages at each repartition and exchanges rows between them through
//! shuffle files: every byte IPC-encoded, written, read back and decoded, and no stage-2 task
//! starting before stage 1 has ended. In one process none of that is needed. DataFusion's own
//! `RepartitionExec` hands batches from the scanning tasks to the sorting tasks in memory, under
//! the memory pool, spilling only when the pool is full, and both sides run at once. The plan is
//! the same one Ballista runs in the distributed mode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionConfig;
use tokio::task::{AbortHandle, JoinHandle};

/// Jobs running as tasks of this process's Tokio runtime.
pub struct InProcessRunner {
    runtime: Arc<RuntimeEnv>,
    runs: Mutex<HashMap<String, Run>>,
}

struct Run {
    /// Taken by the one caller that waits for the job.
    handle: Option<JoinHandle<Result<Vec<RecordBatch>>>>,
    abort: AbortHandle,
}

impl InProcessRunner {
    pub fn new(runtime: Arc<RuntimeEnv>) -> Self {
        InProcessRunner { runtime, runs: Mutex::new(HashMap::new()) }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Run>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts executing every output partition of `plan` in `session`; returns the run's id.
    pub fn submit(&self, plan: Arc<dyn ExecutionPlan>, session: SessionConfig) -> String {
        let state = SessionStateBuilder::new().with_config(session).with_runtime_env(self.runtime.clone()).with_default_features().build();
        let id = format!("in-process-{}", uuid::Uuid::new_v4().simple());
        let handle = tokio::spawn(collect(plan, state.task_ctx()));
        self.runs().insert(id.clone(), Run { abort: handle.abort_handle(), handle: Some(handle) });
        id
    }

    /// Waits for the run to end and returns its output. Its tasks start at once, so
    /// `on_running` is called before waiting.
    pub async fn wait(&self, id: &str, on_running: impl FnOnce()) -> Result<Vec<RecordBatch>> {
        let handle = self.runs().get_mut(id).and_then(|run| run.handle.take());
        let Some(handle) = handle else {
            return Err(DataFusionError::Execution(format!("no job {id} runs in this process, or another caller is waiting for it")));
        };
        on_running();
        // Whoever stops waiting stops the run: dropped, this aborts it and forgets it.
        let _forget = Forget { runner: self, id };
        let result = handle.await;
        match result {
            Ok(output) => output,
            Err(e) if e.is_cancelled() => Err(DataFusionError::Execution(format!("job {id} was cancelled"))),
            Err(e) => Err(DataFusionError::Execution(format!("job {id} stopped: {e}"))),
        }
    }

    /// Stops the run's tasks: dropping the plan's streams stops every task it spawned. True if
    /// the run was still going; false for a run no one waits for any more, which was stopped then.
    pub fn cancel(&self, id: &str) -> bool {
        self.runs().get(id).is_some_and(|run| {
            let running = !run.abort.is_finished();
            run.abort.abort();
            running
        })
    }
}

/// Aborts and forgets a run when its waiter goes.
struct Forget<'a> {
    runner: &'a InProcessRunner,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Some(run) = self.runner.runs().remove(self.id) {
            run.abort.abort();
        }
    }
}
