"""``OfflineUserDataJobService`` for Customer Match, and the long-running run operation.

The rules are the real API's, because they are what syncd's Google Ads destination must get
right: a job is either additions or removals (mixing them is ``CONFLICTING_OPERATION``), a
``remove_all`` must be the job's first operation, operations cannot be added once the job runs
(``JOB_ALREADY_STARTED``), a second job cannot run on a list while one is RUNNING
(``DatabaseError.CONCURRENT_MODIFICATION``), a request holds at most 100,000 user identifiers
(``TOO_MANY_USER_IDENTIFIERS``), and a developer token that is not allowlisted for Customer
Match gets ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``. With partial failure enabled the
valid operations are kept and the invalid ones reported by index in ``partial_failure_error``;
without it one bad operation fails the request and nothing is kept.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import empty_pb2
from google.rpc import status_pb2

from syncd.destinations.google.sandbox.ads.errors import AdsError, ErrorDetail, raise_or_partial
from syncd.destinations.google.sandbox.ads.protos import Protos, enum_name
from syncd.destinations.google.sandbox.ads.state import Account, Job, Member
from syncd.destinations.google.sandbox.ads.user_data import (
    MAX_IDENTIFIERS_PER_REQUEST,
    job_error,
    parse_member,
    too_many_identifiers,
)

__all__ = ["add_operations", "create_job", "find_job", "get_operation", "run_job"]


def _not_allowlisted() -> AdsError:
    return AdsError(
        ErrorDetail(
            "not_allowlisted_error",
            "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE",
            "Customer is not allowlisted for accessing this feature: Customer Match uploads "
            "through the Google Ads API.",
        )
    )


def create_job(
    messages: Protos,
    account: Account,
    request: Any,
    new_id: Callable[[], int],
    *,
    allowlisted: bool,
) -> tuple[Any, int]:
    """Create a CUSTOMER_MATCH_USER_LIST job for one of the account's CRM lists."""
    job_type = enum_name(request.job, "type")
    if job_type != "CUSTOMER_MATCH_USER_LIST":
        raise AdsError(
            job_error(
                "NOT_ON_ALLOWLIST_FOR_STORE_SALES_DIRECT"
                if job_type.startswith("STORE_SALES")
                else "INVALID_USER_LIST_TYPE",
                "The sandbox runs CUSTOMER_MATCH_USER_LIST jobs only.",
                ("job", None),
                ("type", None),
            ),
            count=1,
        )
    if not allowlisted:
        raise _not_allowlisted()
    list_name = request.job.customer_match_user_list_metadata.user_list
    list_id = account.user_list_id(list_name)
    if list_id is None:
        raise AdsError(
            job_error(
                "INVALID_USER_LIST_ID",
                "The user list does not exist in this account.",
                ("job", None),
                ("customer_match_user_list_metadata", None),
                ("user_list", None),
            ),
            count=1,
        )
    response: Any = messages.create_job_response()
    if not request.validate_only:
        job = Job(id=new_id(), user_list_id=list_id, version=messages.version)
        account.jobs[job.id] = job
        response.resource_name = account.job_name(job.id)
    return response, 1


def find_job(account: Account, resource_name: str) -> Job:
    """The job a resource name names, or the API's not-found error."""
    prefix = f"customers/{account.customer_id}/offlineUserDataJobs/"
    tail = resource_name.removeprefix(prefix)
    job = account.jobs.get(int(tail)) if tail != resource_name and tail.isdigit() else None
    if job is None:
        raise AdsError(
            ErrorDetail(
                "mutate_error",
                "RESOURCE_NOT_FOUND",
                "Resource was not found.",
                (("resource_name", None),),
            )
        )
    return job


def add_operations(
    messages: Protos,
    account: Account,
    request: Any,
    request_id: str,
    *,
    allowlisted: bool,
) -> tuple[Any, int]:
    """Stage create/remove/remove_all operations on a job that has not started."""
    count = len(request.operations)
    if not allowlisted:
        raise _not_allowlisted()
    job = find_job(account, request.resource_name)
    if job.status != "PENDING":
        raise AdsError(
            job_error(
                "JOB_ALREADY_STARTED",
                "Once the upload job is started, new operations cannot be added.",
            ),
            count=count,
        )
    if not count:
        raise AdsError(
            ErrorDetail(
                "request_error", "OPERATION_REQUIRED", "At least one operation is required."
            )
        )
    identifiers = sum(
        len(getattr(op, op.WhichOneof("operation")).user_identifiers)
        for op in request.operations
        if op.WhichOneof("operation") in ("create", "remove")
    )
    if identifiers > MAX_IDENTIFIERS_PER_REQUEST:
        raise AdsError(
            too_many_identifiers(("operations", None)),
            count=count,
        )
    user_list = account.user_lists.get(job.user_list_id)
    if user_list is None:
        raise AdsError(
            job_error("INVALID_USER_LIST_ID", "The job's user list no longer exists."),
            count=count,
        )
    direction = job.direction
    remove_all = False
    staged: list[Member] = []
    errors: list[ErrorDetail] = []
    for index, operation in enumerate(request.operations):
        kind = operation.WhichOneof("operation")
        found: list[ErrorDetail] = []
        if kind == "remove_all":
            if index or job.operations:
                found = [
                    job_error(
                        "INVALID_OPERATION_ORDER",
                        "A remove-all operation must be the first operation of the job.",
                        ("remove_all", None),
                    )
                ]
            else:
                remove_all = operation.remove_all
        elif kind in ("create", "remove"):
            wanted = "add" if kind == "create" else "remove"
            member, found = parse_member(getattr(operation, kind), user_list.upload_key_type)
            found = [error.at((kind, None)) for error in found]
            if direction not in (None, wanted):
                found.insert(
                    0,
                    job_error(
                        "CONFLICTING_OPERATION",
                        "Mixing creation and removal of offline data in the same job is not "
                        "allowed.",
                        (kind, None),
                    ),
                )
            if not found:
                direction = wanted
                staged.append(member)
        else:
            found = [ErrorDetail("request_error", "OPERATION_REQUIRED", "The operation is empty.")]
        errors.extend(error.at(("operations", index)) for error in found)
    partial_failure = raise_or_partial(
        messages.version, errors, request.enable_partial_failure, request_id, count
    )
    if not request.validate_only:
        job.direction = direction
        job.remove_all = job.remove_all or remove_all
        job.staged.extend(staged)
        job.operations += count - len({e.location[0] for e in errors})
    response: Any = messages.add_operations_response()
    if partial_failure is not None:
        response.partial_failure_error.CopyFrom(partial_failure)
    return response, count


def _operation(messages: Protos, job: Job) -> operations_pb2.Operation:
    operation = operations_pb2.Operation(name=job.operation_name)
    operation.metadata.Pack(messages.job_metadata())
    if job.status == "SUCCESS":
        operation.done = True
        operation.response.Pack(empty_pb2.Empty())
    elif job.status == "FAILED":
        operation.done = True
        operation.error.CopyFrom(status_pb2.Status(code=13, message="The job failed."))
    return operation


def run_job(
    messages: Protos,
    account: Account,
    request: Any,
    now: float,
    *,
    allowlisted: bool,
) -> tuple[operations_pb2.Operation, int]:
    """Start a job: RUNNING now, SUCCESS (members applied) once the emulator's delay passed."""
    if not allowlisted:
        raise _not_allowlisted()
    job = find_job(account, request.resource_name)
    if job.status != "PENDING":
        raise AdsError(job_error("JOB_ALREADY_STARTED", "The upload job has already been started."))
    if job.user_list_id in account.lists_in_flight():
        raise AdsError(
            ErrorDetail(
                "database_error",
                "CONCURRENT_MODIFICATION",
                "Multiple requests were attempting to modify the same resource at once. "
                "Retry the request.",
            )
        )
    if request.validate_only:
        return operations_pb2.Operation(), 0
    job.status, job.run_at = "RUNNING", now
    job.operation_name = f"customers/{account.customer_id}/operations/{secrets.token_hex(8)}"
    return _operation(messages, job), job.operations


def get_operation(
    messages_for: Callable[[str], Protos], account: Account, name: str
) -> operations_pb2.Operation:
    """``google.longrunning.Operations.GetOperation`` for a job's run."""
    for job in account.jobs.values():
        if job.operation_name and job.operation_name == name:
            return _operation(messages_for(job.version), job)
    raise AdsError(
        ErrorDetail(
            "request_error", "RESOURCE_NOT_FOUND", "Operation was not found.", (("name", None),)
        )
    )
