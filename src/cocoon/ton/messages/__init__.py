"""Message bodies of the COCOON contracts (spec/contracts.md), one frozen struct per op.

Build: ``RegisterProxy(query_id=1, desc="127.0.0.1:11001").to_cell()``.
Parse: ``RegisterProxy.from_cell(cell)`` or, for any inbound body, :func:`cocoon.ton.parse.parse_body`.
Signed requests live in :mod:`cocoon.ton.signed`, wallet messages in :mod:`cocoon.ton.wallet`.

Layout choices where the spec leaves room (mirrored by ``contracts/*.fc``):
- every internal body starts ``op:uint32 query_id:uint64``; forwarded *payloads* (inside
  ``client_proxy_request`` / ``worker_proxy_request``) are ``op:uint32`` + fields, without query_id;
- ``client_proxy_request = op query_id owner:MsgAddress ^ClientStateSnapshot payload:(Maybe ^Cell)``;
- ``worker_proxy_request = op query_id owner:MsgAddress state:uint2 tokens:uint64 payload:(Maybe ^Cell)``;
- the proxy save-state note is ``do_not_process query_id save_state:uint32 seqno:int32 session_hash:bits256``.
"""

from cocoon.ton.codec import Body
from cocoon.ton.messages.common import DoNotProcess, Excesses, OwnerWalletSendMessage, Payout, SaveState
from cocoon.ton.messages.nodes import (
    ExtClientTopUp,
    OwnerClientChangeSecretHash,
    OwnerClientChangeSecretHashAndTopUp,
    OwnerClientIncreaseStake,
    OwnerClientRegister,
    OwnerClientRequestRefund,
    OwnerClientWithdraw,
    OwnerWorkerRegister,
)
from cocoon.ton.messages.proxy import (
    ClientProxyRequest,
    ClientRefundForcePayload,
    ClientRefundGrantedPayload,
    ClientRegisterPayload,
    ClientStateSnapshot,
    ClientTopUpPayload,
    ExtProxyIncreaseStake,
    ExtProxyPayoutRequest,
    OwnerProxyClose,
    WorkerPayoutPayload,
    WorkerProxyRequest,
    payload_of,
)
from cocoon.ton.messages.root import (
    AddModelType,
    AddProxyType,
    AddWorkerType,
    ChangeFees,
    ChangeOwner,
    ChangeParams,
    DelModelType,
    DelProxyType,
    DelWorkerType,
    RegisterProxy,
    Reset,
    UnregisterProxy,
    UpdateProxy,
    Upgrade,
    UpgradeContracts,
)

__all__ = [
    "AddModelType",
    "AddProxyType",
    "AddWorkerType",
    "Body",
    "ChangeFees",
    "ChangeOwner",
    "ChangeParams",
    "ClientProxyRequest",
    "ClientRefundForcePayload",
    "ClientRefundGrantedPayload",
    "ClientRegisterPayload",
    "ClientStateSnapshot",
    "ClientTopUpPayload",
    "DelModelType",
    "DelProxyType",
    "DelWorkerType",
    "DoNotProcess",
    "Excesses",
    "ExtClientTopUp",
    "ExtProxyIncreaseStake",
    "ExtProxyPayoutRequest",
    "OwnerClientChangeSecretHash",
    "OwnerClientChangeSecretHashAndTopUp",
    "OwnerClientIncreaseStake",
    "OwnerClientRegister",
    "OwnerClientRequestRefund",
    "OwnerClientWithdraw",
    "OwnerProxyClose",
    "OwnerWalletSendMessage",
    "OwnerWorkerRegister",
    "Payout",
    "RegisterProxy",
    "Reset",
    "SaveState",
    "UnregisterProxy",
    "UpdateProxy",
    "Upgrade",
    "UpgradeContracts",
    "WorkerPayoutPayload",
    "WorkerProxyRequest",
    "payload_of",
]
