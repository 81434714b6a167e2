"""The models a proxy serves and their workers (`ClientGetWorkerTypesV2`, legacy `ClientGetWorkerTypes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cocoon.tl.base import TLObject


@dataclass(frozen=True, slots=True)
class ClientGetWorkerTypesV2(TLObject):
    """Query: the models the proxy serves, worker by worker.

    TL: ``client.getWorkerTypesV2 = client.WorkerTypesV2``
    """

    TL_NAME: ClassVar[str] = "client.getWorkerTypesV2"
    TL_ID: ClassVar[int] = 0xB2133D72


@dataclass(frozen=True, slots=True)
class ClientWorkerInstanceV2(TLObject):
    """One worker of a model: its price coefficient and load.

    TL: ``client.workerInstanceV2 flags:# coefficient:int active_requests:int max_active_requests:int =
    client.WorkerInstanceV2``
    """

    TL_NAME: ClassVar[str] = "client.workerInstanceV2"
    TL_ID: ClassVar[int] = 0x3EA93D00

    coefficient: int
    active_requests: int
    max_active_requests: int


@dataclass(frozen=True, slots=True)
class ClientWorkerTypeV2(TLObject):
    """One model and its workers.

    TL: ``client.workerTypeV2 name:string workers:vector client.workerInstanceV2 = client.WorkerTypeV2``
    """

    TL_NAME: ClassVar[str] = "client.workerTypeV2"
    TL_ID: ClassVar[int] = 0xB27D8197

    name: str
    workers: tuple[ClientWorkerInstanceV2, ...]


@dataclass(frozen=True, slots=True)
class ClientWorkerTypesV2(TLObject):
    """Answer to `ClientGetWorkerTypesV2`.

    TL: ``client.workerTypesV2 types:vector client.workerTypeV2 = client.WorkerTypesV2``
    """

    TL_NAME: ClassVar[str] = "client.workerTypesV2"
    TL_ID: ClassVar[int] = 0x0CF0DC67

    types: tuple[ClientWorkerTypeV2, ...]


@dataclass(frozen=True, slots=True)
class ClientGetWorkerTypes(TLObject):
    """Query (legacy): the models the proxy serves, summarised.

    TL: ``client.getWorkerTypes = client.WorkerTypes``
    """

    TL_NAME: ClassVar[str] = "client.getWorkerTypes"
    TL_ID: ClassVar[int] = 0x7F062BDB


@dataclass(frozen=True, slots=True)
class ClientWorkerType(TLObject):
    """One model, summarised (legacy).

    TL: ``client.workerType name:string active_workers:int coefficient_min:int coefficient_bucket50:int
    coefficient_max:int = client.WorkerType``
    """

    TL_NAME: ClassVar[str] = "client.workerType"
    TL_ID: ClassVar[int] = 0x8210E21C

    name: str
    active_workers: int
    coefficient_min: int
    coefficient_bucket50: int
    coefficient_max: int


@dataclass(frozen=True, slots=True)
class ClientWorkerTypes(TLObject):
    """Answer to `ClientGetWorkerTypes` (legacy).

    TL: ``client.workerTypes types:vector client.workerType = client.WorkerTypes``
    """

    TL_NAME: ClassVar[str] = "client.workerTypes"
    TL_ID: ClassVar[int] = 0xF64E0E01

    types: tuple[ClientWorkerType, ...]


WORKER_LIST_TYPES: tuple[type[TLObject], ...] = (
    ClientGetWorkerTypesV2,
    ClientWorkerInstanceV2,
    ClientWorkerTypeV2,
    ClientWorkerTypesV2,
    ClientGetWorkerTypes,
    ClientWorkerType,
    ClientWorkerTypes,
)
