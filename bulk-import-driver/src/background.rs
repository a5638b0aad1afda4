//! Background tasks that live as long as a value does: a service's intake, a run's lease renewal.

/// Aborts its task when dropped.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
