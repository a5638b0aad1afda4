"""A client of the bulk import job service: submit Sleeper bulk import jobs, follow them to their
end, list and cancel them."""

from .client import Client, Job, JobInfo
from .errors import BulkImportError, JobFailed, JobRejected, Unauthenticated

__all__ = ["Client", "Job", "JobInfo", "BulkImportError", "JobFailed", "JobRejected", "Unauthenticated"]
