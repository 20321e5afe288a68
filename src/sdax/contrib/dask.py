"""Run blocking phase functions on a Dask cluster.

Needs Dask's ``distributed`` package: ``pip install "sdax[dask]"``.

:func:`dask_executor` gives a ``concurrent.futures.Executor`` that sends each
attempt of a ``task_sync_func`` to a Dask cluster::

    from sdax import task_sync_func
    from sdax.contrib.dask import dask_executor

    executor = dask_executor("tcp://scheduler.example:8786")  # or a Client, or None
    crunch = task_sync_func(
        crunch_numbers,                     # a plain function, importable by the workers
        executor=executor,
        arg=lambda ctx: ctx.samples,        # what the workers receive (picklable)
        result=lambda ctx, value: setattr(ctx, "total", value),  # back on the loop thread
        timeout=30,
        retries=2,
    )

The same code runs on a laptop and on a remote cluster: only what is passed
to :func:`dask_executor` changes (``None`` for the client already made in
this process, e.g. ``Client(LocalCluster())``; an address or a scheduler file
for a remote cluster).

Every submission is a new Dask task (``pure=False``): with Dask's default
(``pure=True``) identical submissions share one key, and a retry would get the
failed result back without running again.

When a run stops waiting for an attempt (a timeout, a cancellation, a failing
sibling), sdax does not withdraw work from a Dask cluster, since Dask cannot
stop a task that already runs on a worker: the task's ``post_execute`` starts
once Dask reports the attempt finished, within the run's ``cleanup_timeout``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from distributed import Client  # type: ignore[import-not-found, unused-ignore]  # optional extra

__all__ = ["DaskExecutor", "dask_executor"]

P = ParamSpec("P")
R = TypeVar("R")

_INSTALL_HINT = 'sdax.contrib.dask needs Dask\'s "distributed" package: pip install "sdax[dask]"'


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return distributed


class DaskExecutor(Executor):
    """A ``concurrent.futures.Executor`` that submits to a Dask client.

    Made by :func:`dask_executor`: Dask's own executor
    (``client.get_executor(pure=False)``) plus the client it submits to, which
    ``shutdown()`` closes when this executor opened it.

    Args:
        client: The Dask client to submit to.
        owns_client: Close the client on ``shutdown()``.
        options: Extra ``Client.submit`` options for every submission
            (``workers``, ``resources``, ``allow_other_workers``).
    """

    def __init__(self, client: Client, *, owns_client: bool = False, **options: Any) -> None:
        self.client = client
        self._owns_client = owns_client
        untyped: Any = client  # distributed's Client methods carry no annotations
        self._inner: Executor = untyped.get_executor(pure=False, **options)

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """Send ``fn(*args, **kwargs)`` to the cluster as a new Dask task."""
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; close the client if this executor opened it.

        Args:
            wait: Wait for submitted work to finish.
            cancel_futures: Cancel submitted work instead.
        """
        self._inner.shutdown(wait=wait and not cancel_futures)
        if self._owns_client:
            untyped: Any = self.client
            untyped.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.client!r})"


def dask_executor(client_or_address: Client | str | None = None, **options: Any) -> DaskExecutor:
    """An executor that runs ``task_sync_func`` attempts on a Dask cluster.

    Args:
        client_or_address: Where to run:

            * a ``distributed.Client`` (synchronous or asynchronous);
            * a string: the path of a scheduler file (as written by
              ``dask scheduler --scheduler-file``) if such a file exists,
              otherwise a scheduler address such as
              ``"tcp://10.0.0.5:8786"``. A client is opened for it, and
              ``executor.shutdown()`` closes it;
            * ``None``: the client already made in this process (the one
              ``distributed.default_client()`` returns).
        options: ``Client.submit`` options applied to every submission:
            ``workers``, ``resources``, ``allow_other_workers``.

    Returns:
        The executor; pass it as ``task_sync_func(fn, executor=...)``.

    Raises:
        ImportError: ``distributed`` is not installed.
        ValueError: ``None`` was given and this process has no client.
        TypeError: ``client_or_address`` is none of the above.
    """
    distributed = _distributed()
    if "pure" in options:
        raise TypeError("dask_executor always submits with pure=False (each attempt runs anew)")
    if client_or_address is None:
        try:
            client = distributed.default_client()
        except ValueError as exc:
            raise ValueError(
                "dask_executor(None) needs a Dask client made in this process "
                "(e.g. distributed.Client(distributed.LocalCluster())); "
                "or pass a Client, a scheduler address or a scheduler file"
            ) from exc
        return DaskExecutor(client, **options)
    if isinstance(client_or_address, str):
        if os.path.isfile(client_or_address):
            client = distributed.Client(scheduler_file=client_or_address)
        else:
            client = distributed.Client(client_or_address)
        return DaskExecutor(client, owns_client=True, **options)
    if isinstance(client_or_address, distributed.Client):
        return DaskExecutor(client_or_address, **options)
    raise TypeError(
        "dask_executor needs a distributed.Client, a scheduler address or scheduler file, "
        f"or None, got {client_or_address!r}"
    )
