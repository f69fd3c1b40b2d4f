"""BLAS on one thread for the weak model's small matrices."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any


def one_blas_thread(function: Callable) -> Callable:
    """Run ``function`` with BLAS (OpenBLAS, MKL) limited to one thread.

    The weak model's matrices are small (its training sample is capped) and the pipeline's
    stages share the machine with dvc, git and other stages or tests: there OpenBLAS's threads
    cost more than they save. Measured on 2 cores with one other busy process: a quickstart
    prelabel took 10.1 s with two BLAS threads and 4.6 s with one; a 64-component PCA of
    100,000 x 400 features 8.5 s and 4.2-5.4 s. Nested calls set the limit once (each setting
    costs ~5 ms: predicting 333k texts in batches spent 7.4 s on it).
    """
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "limited", False):  # an outer call holds the limit: setting it scans every library
            return function(*args, **kwargs)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            _state.limited = True
            try:
                return function(*args, **kwargs)
            finally:
                _state.limited = False

    return wrapper


# Per thread: a limit set in one thread says nothing about another's calls.
_state = threading.local()
