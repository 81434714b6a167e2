"""Gas used by each operation of our FunC contracts, read from transactions on the local chain.

Deploys root, one proxy, its worker and client contracts and a node wallet on a fresh ``LocalChain``
(official emulator), runs every operation once and prints, per transaction of the trace that did work,
the gas used and the fees the transaction reports. Numbers are deterministic for a given build.

    .venv/bin/python benchmarks/contract_gas.py
"""

from __future__ import annotations

from collections.abc import Callable

from cocoon.chainsvc.local import LocalChain
from cocoon.ton import data
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import Cell, internal_message
from cocoon.ton.chain import Transaction
from cocoon.ton.ops import TON, Op
from cocoon.ton.params import make_params
from cocoon.ton.signed import public_key_of, sign_request
from cocoon.ton.wallet import WalletTransfer, wallet_external

SECRET = b"\x07" * 32
KEY = int.from_bytes(public_key_of(SECRET), "big")


def owner(tag: int) -> Address:
    return Address(0, bytes([tag]) * 32)


ROOT_OWNER, PROXY_OWNER, WORKER_OWNER, CLIENT_OWNER, ANYONE = (owner(i) for i in range(1, 6))


def main() -> None:
    chain = LocalChain(None, now=1_750_000_000)
    codes = {n: contract_code(n) for n in ("proxy", "worker", "client")}
    params = make_params(proxy_code=codes["proxy"], worker_code=codes["worker"], client_code=codes["client"])
    root = chain.deploy(*data.root_state_init(contract_code("root"), ROOT_OWNER, params), TON)
    proxy = chain.deploy(*data.proxy_state_init(PROXY_OWNER, KEY, root, params), 3 * TON // 10)
    worker = chain.deploy(*data.worker_state_init(WORKER_OWNER, proxy, KEY, params), 3 * TON // 10)
    client = chain.deploy(*data.client_state_init(CLIENT_OWNER, proxy, KEY, params), 8 * TON // 10)
    wallet_init = data.wallet_state_init(contract_code("wallet"), KEY, ROOT_OWNER)
    wallet = chain.deploy(*wallet_init, 10 * TON)
    names = {root: "root", proxy: "proxy", worker: "worker", client: "client", wallet: "wallet"}

    def signed(op: int, target: Address, tokens: int | None = None) -> Cell:
        return sign_request(SECRET, op, query_id=1, target=target, new_tokens=tokens).to_cell()

    def external(count: int) -> list[Transaction]:
        transfers = [
            WalletTransfer(1, internal_message(src=None, dest=ANYONE, value=TON // 10, bounce=False))
        ] * count
        seqno = data.WalletData.from_cell(chain.account(wallet).data).seqno
        return chain.send_external(
            wallet_external(SECRET, wallet, seqno=seqno, valid_until=chain.now + 60, transfers=transfers)
        )

    def send(
        src: Address, dest: Address, body: m.Body | Cell, value: int = TON // 2
    ) -> Callable[[], list[Transaction]]:
        cell = body if isinstance(body, Cell) else body.to_cell()
        return lambda: chain.send_internal(src, dest, value, cell)

    steps: list[tuple[str, Callable[[], list[Transaction]]]] = [
        ("root add_model_type", send(ROOT_OWNER, root, m.AddModelType(query_id=1, hash=5))),
        ("root register_proxy", send(ROOT_OWNER, root, m.RegisterProxy(query_id=1, desc="127.0.0.1:8000"))),
        (
            "root change_fees",
            send(ROOT_OWNER, root, m.ChangeFees(query_id=1, price_per_token=20, worker_fee_per_token=19)),
        ),
        (
            "client ext_client_top_up (-> proxy top_up)",
            send(CLIENT_OWNER, client, m.ExtClientTopUp(query_id=1, amount=5 * TON, excess_to=None), 6 * TON),
        ),
        (
            "client owner_client_register (note)",
            send(CLIENT_OWNER, client, m.OwnerClientRegister(query_id=1, nonce=1, excess_to=None)),
        ),
        (
            "client ext_client_charge_signed (note)",
            send(ANYONE, client, signed(Op.EXT_CLIENT_CHARGE_SIGNED, client, 1000)),
        ),
        (
            "client owner_client_withdraw (-> proxy refund_granted)",
            send(CLIENT_OWNER, client, m.OwnerClientWithdraw(query_id=1, excess_to=None)),
        ),
        (
            "worker ext_worker_payout_request_signed (-> proxy)",
            send(ANYONE, worker, signed(Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, worker, 1000)),
        ),
        (
            "worker owner_worker_register (note)",
            send(WORKER_OWNER, worker, m.OwnerWorkerRegister(query_id=1, excess_to=None)),
        ),
        (
            "proxy ext_proxy_increase_stake",
            send(ANYONE, proxy, m.ExtProxyIncreaseStake(query_id=1, grams=TON, excess_to=None), 2 * TON),
        ),
        (
            "proxy ext_proxy_payout_request",
            send(ANYONE, proxy, m.ExtProxyPayoutRequest(query_id=1, excess_to=None)),
        ),
        (
            "proxy save_state note with gas (do_not_process)",
            send(PROXY_OWNER, proxy, m.SaveState.make(query_id=1, seqno=1, session_hash=bytes(32))),
        ),
        (
            "client owner_client_request_refund (-> closing)",
            send(CLIENT_OWNER, client, m.OwnerClientRequestRefund(query_id=1, excess_to=None)),
        ),
        (
            "client ext_client_grant_refund_signed (-> proxy)",
            send(ANYONE, client, signed(Op.EXT_CLIENT_GRANT_REFUND_SIGNED, client, 2000)),
        ),
        (
            "proxy ext_proxy_close_request_signed",
            send(ANYONE, proxy, signed(Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, proxy)),
        ),
        (
            "worker ext_worker_last_payout_request_signed (-> proxy)",
            send(ANYONE, worker, signed(Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED, worker, 1500)),
        ),
        ("wallet external, 1 message", lambda: external(1)),
        ("wallet external, 4 messages", lambda: external(4)),
    ]
    print(f"{'operation':58} {'contract':8} {'gas':>7} {'fees nanoTON':>13}")
    for label, step in steps:
        trace = step()
        for tx in trace:
            if tx.account in names and not tx.compute_skipped:
                flag = "" if tx.success else f"  FAILED {tx.failure_code}"
                print(f"{label:58} {names[tx.account]:8} {tx.gas_used:7} {tx.total_fees:13}{flag}")
                label = ""
    chain.advance(params.proxy_delay_before_close)
    trace = send(ANYONE, proxy, signed(Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED, proxy))()
    label, tx = "proxy ext_proxy_close_complete_request_signed", trace[0]
    print(f"{label:58} {'proxy':8} {tx.gas_used:7} {tx.total_fees:13}")


if __name__ == "__main__":
    main()
