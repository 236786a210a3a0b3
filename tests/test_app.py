"""moderation/app.py: what starting the classifier sets for the whole process."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from tests.conftest import ServiceFactory


def _blas_threads() -> set[int]:
    return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}


async def test_the_service_runs_one_blas_thread(make_service: ServiceFactory) -> None:
    """numpy's idle OpenBLAS worker spun between the service's small matrix products
    (5-6 ms of CPU per comment under load): the service sets BLAS to one thread."""
    before = threadpool_info()
    threadpool_limits(limits=2, user_api="blas")  # as a fresh process on 2 cores has it
    try:
        assert _blas_threads() == {2}
        service = await make_service()
        status, _ = await service.post_comment(text="A measured reply.")
        assert status == 201
        assert _blas_threads() == {1}
    finally:
        for info in before:  # the other tests keep what they had
            threadpool_limits(limits={info["prefix"]: info["num_threads"]})
