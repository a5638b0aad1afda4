//! The physical plans of recent runs, with their operators' metrics, for the web view's job
//! page. They live only in this service's memory: the tracker records what Sleeper's does, and
//! a plan is for looking at soon after a run, not for keeping.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// How many runs' plans are kept; older ones are forgotten first.
pub const KEPT_PLANS: usize = 200;

/// The latest run's plan of each of the last [`KEPT_PLANS`] jobs that ran here.
#[derive(Default)]
pub struct PlanArchive {
    plans: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl PlanArchive {
    /// Keeps `plan` as the job's latest, forgetting the oldest job's if there are too many.
    pub fn keep(&self, job_id: &str, plan: String) {
        let mut guard = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        let (plans, order) = &mut *guard;
        if plans.insert(job_id.to_string(), plan).is_none() {
            order.push_back(job_id.to_string());
        }
        while order.len() > KEPT_PLANS {
            if let Some(oldest) = order.pop_front() {
                plans.remove(&oldest);
            }
        }
    }

    pub fn get(&self, job_id: &str) -> Option<String> {
        self.plans.lock().unwrap_or_else(PoisonError::into_inner).0.get(job_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_jobs_plans_are_forgotten_first() {
        let archive = PlanArchive::default();
        for i in 0..=KEPT_PLANS {
            archive.keep(&format!("job-{i}"), format!("plan {i}"));
        }
        assert_eq!(archive.get("job-0"), None);
        assert_eq!(archive.get("job-1").as_deref(), Some("plan 1"));
        // A job run again keeps its place and its latest plan.
        archive.keep("job-1", "plan again".into());
        archive.keep("job-new", "plan new".into());
        assert_eq!(archive.get("job-1"), None, "job-1 was the oldest");
        assert_eq!(archive.get(&format!("job-{KEPT_PLANS}")).as_deref(), Some(&*format!("plan {KEPT_PLANS}")));
    }
}
