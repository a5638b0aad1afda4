"""The errors of the client, one per way a job or a call can go wrong."""


class BulkImportError(Exception):
    """Any refusal or failure reported by the job service."""


class JobRejected(BulkImportError):
    """The service refused the job; `reasons` holds every reason it gave."""

    def __init__(self, job_id, reasons):
        self.job_id, self.reasons = job_id, list(reasons)
        super().__init__(f"job {job_id} was rejected: " + "; ".join(self.reasons))


class JobFailed(BulkImportError):
    """The job ran and failed; nothing of it was committed."""

    def __init__(self, job_id, reason):
        self.job_id, self.reason = job_id, reason
        super().__init__(f"job {job_id} failed: {reason}")


class Unauthenticated(BulkImportError):
    """The service requires a valid bearer token."""
