"""The Dask cluster a stage runs on: a scheduler the user names, or a local one for the stage's duration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import require

if TYPE_CHECKING:
    from distributed import Client


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Client]:
    """A ``distributed.Client`` on ``scheduler`` (an address), or on a fresh 2-worker local cluster.

    The local cluster has two single-threaded worker processes (numpy and the feature code hold
    the GIL), and its HTTP server takes a free localhost port, so two clusters at once (parallel
    tests, two stages) never collide. Both are closed on exit. Used by the dask engines of
    ``dlp prelabel`` (features) and ``dlp agree`` (Dawid-Skene).

    Args:
        scheduler: A scheduler address such as ``"tcp://10.0.0.5:8786"``; ``None`` starts a local cluster.

    Returns:
        A context manager yielding the client.
    """
    distributed = require("dask.distributed", "dask")
    cluster = None
    if scheduler:
        client = distributed.Client(scheduler)
    else:
        # Not dashboard_address=None: that still binds 8787 and warns when another cluster holds it.
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address="127.0.0.1:0")
        client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
