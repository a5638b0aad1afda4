"""`Client` and `Job`: the job service's gRPC API in Python's terms."""

import json
import os
import sys
from dataclasses import dataclass, field

import grpc

from ._generated import service_pb2 as pb
from ._generated import service_pb2_grpc as pb_grpc
from .errors import BulkImportError, JobFailed, JobRejected, Unauthenticated

_ENDED = {"FINISHED", "FAILED", "REJECTED"}


def _status_name(value):
    return pb.JobStatus.Name(value).removeprefix("JOB_STATUS_")


@dataclass
class JobInfo:
    """A job as the service lists it."""

    job_id: str
    status: str
    table_name: str
    input_rows: int
    rows_written: int
    files_written: int
    reasons: list = field(default_factory=list)


class Client:
    """A connection to a job service at `url` (`host:port`, `http://host:port` or
    `https://host:port`). With `tls_ca` (the path of the CA's PEM) the connection uses TLS;
    with `token`, every call presents it as a bearer token."""

    def __init__(self, url, token=None, tls_ca=None):
        target = url.split("://", 1)[-1]
        if tls_ca is not None:
            with open(tls_ca, "rb") as f:
                self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=f.read()))
        else:
            self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.BulkImportServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        try:
            return method(request, metadata=self._metadata)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated(e.details()) from None
            raise BulkImportError(f"{e.code().name}: {e.details()}") from None

    def submit(self, job):
        """Submits a job, given as a dict of Sleeper's bulk import job JSON or as the path of a
        JSON file; returns its `Job`, or raises `JobRejected` with the service's reasons."""
        if isinstance(job, (str, os.PathLike)):
            with open(job) as f:
                text = f.read()
        else:
            text = json.dumps(job)
        response = self._call(self._stub.SubmitJob, pb.SubmitJobRequest(json=text))
        if response.status == pb.JOB_STATUS_REJECTED:
            raise JobRejected(response.job_id, response.reasons)
        return Job(self, response.job_id)

    def job(self, job_id):
        """The `Job` of an id, to follow or cancel a job submitted elsewhere."""
        return Job(self, job_id)

    def jobs(self, table=None, status=None):
        """Jobs, of one table and in one status (such as "FAILED") if given."""
        request = pb.ListJobsRequest(table_name=table or "", status=getattr(pb, f"JOB_STATUS_{status}") if status else 0)
        response = self._call(self._stub.ListJobs, request)
        return [JobInfo(j.job_id, _status_name(j.status), j.table_name, j.input_rows, j.rows_written, j.files_written, list(j.reasons))
                for j in response.jobs]


class Job:
    """A submitted job."""

    def __init__(self, client, job_id):
        self._client, self.id = client, job_id

    def __repr__(self):
        return f"Job({self.id!r})"

    def info(self):
        j = self._client._call(self._client._stub.GetJob, pb.GetJobRequest(job_id=self.id))
        return JobInfo(j.job_id, _status_name(j.status), j.table_name, j.input_rows, j.rows_written, j.files_written, list(j.reasons))

    def status(self):
        """The job's status now: ACCEPTED, IN_PROGRESS, UNCOMMITTED, FINISHED, FAILED or REJECTED."""
        return self.info().status

    def wait(self, progress=True, out=sys.stderr):
        """Follows the job to its end, drawing a progress bar on `out` if `progress`; returns the
        final status, or raises `JobFailed` with the reason."""
        last = None
        try:
            for update in self._client._stub.WatchJob(pb.WatchJobRequest(job_id=self.id), metadata=self._client._metadata):
                last = update
                if progress:
                    _draw(out, self.id, update)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise Unauthenticated(e.details()) from None
            raise BulkImportError(f"{e.code().name}: {e.details()}") from None
        if progress:
            out.write("\n")
        if last is None:
            raise BulkImportError(f"the service sent no update of job {self.id}")
        status = _status_name(last.status)
        if status == "FAILED":
            raise JobFailed(self.id, last.message)
        if status == "REJECTED":
            raise JobRejected(self.id, [last.message])
        return status

    def cancel(self):
        """Stops the job if it is queued or running; returns its status afterwards."""
        response = self._client._call(self._client._stub.CancelJob, pb.CancelJobRequest(job_id=self.id))
        return _status_name(response.status)


def _draw(out, job_id, update, width=30):
    total = update.rows_total or 1
    done = min(update.rows_written, total)
    filled = int(width * done / total)
    status = _status_name(update.status)
    out.write(f"\r{job_id} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{update.rows_total:,} rows "
              f"{update.tasks_done}/{update.tasks_total} tasks {status}  ")
    out.flush()
