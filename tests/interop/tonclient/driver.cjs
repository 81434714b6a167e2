// Drives @ton/ton's TonClient against `cocoon chain serve`'s toncenter v2 JSON-RPC.
//
// usage: node driver.cjs <chain base URL> <root contract address> <registered proxy hash, hex> <probe code, b64>
// Prints one JSON object with what it saw; the Python test asserts on it and on the chain.
// A fresh mnemonic wallet (v4r2, as the TS SDK uses) is funded by the local faucet, then sends a
// transfer: its first external deploys it (state init attached by TonClient's provider). Then the TS
// SDK's own send path: TonClient4 (the v4 API under /v4) opens a second wallet and its sender deploys
// a contract with an internal message carrying a state init, as the SDK's long-auth registration does.
'use strict';

const {
  TonClient, TonClient4, WalletContractV4, internal, toNano, SendMode, Address, Cell, beginCell, contractAddress,
} = require('@ton/ton');
const { mnemonicNew, mnemonicToPrivateKey } = require('@ton/crypto');

const FUNDING = 2_000_000_000n;
const TRANSFER = toNano('0.5');

async function main() {
  const [base, rootText, proxyHashHex, probeCode] = process.argv.slice(2);
  const client = new TonClient({ endpoint: `${base}/api/v2/jsonRPC`, timeout: 10_000 });
  const out = {};

  // Our contract: raw state (what the SDK's root discovery reads) and get-methods with int and slice values.
  const root = Address.parse(rootText);
  const rootState = await client.getContractState(root);
  out.rootState = rootState.state;
  out.rootHasData = rootState.data !== null;
  const data = await client.runMethod(root, 'get_cocoon_data');
  out.rootVersion = data.stack.readNumber();
  out.rootProxySeqno = data.stack.readNumber();
  for (let i = 0; i < 5; i++) data.stack.readBigNumber(); // params version .. worker fee
  out.minProxyStake = data.stack.readBigNumber().toString();
  out.minClientStake = data.stack.readBigNumber().toString();
  out.rootOwner = data.stack.readAddress().toRawString();
  out.gasUsed = data.gas_used;
  const hash = BigInt('0x' + proxyHashHex);
  out.proxyHashValid = (await client.runMethod(root, 'proxy_hash_is_valid', [{ type: 'int', value: hash }])).stack.readNumber();
  out.otherHashValid = (await client.runMethod(root, 'proxy_hash_is_valid', [{ type: 'int', value: hash + 1n }])).stack.readNumber();
  out.missingMethodExit = (await client.runMethodWithError(root, 'no_such_getter')).exit_code;

  // A mnemonic wallet, funded by the local faucet (our extra endpoint; a real network has none).
  const keys = await mnemonicToPrivateKey(await mnemonicNew(24));
  const wallet = client.open(WalletContractV4.create({ workchain: 0, publicKey: keys.publicKey }));
  out.wallet = wallet.address.toRawString();
  const funded = await fetch(`${base}/api/v2/local/faucet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: out.wallet, amount: FUNDING.toString() }),
  });
  if (!funded.ok) throw new Error(`faucet: HTTP ${funded.status} ${await funded.text()}`);
  out.fundedBalance = (await client.getBalance(wallet.address)).toString();
  out.deployedBefore = await client.isContractDeployed(wallet.address);
  out.seqnoBefore = await wallet.getSeqno();

  const dest = Address.parse(`0:${'d'.repeat(64)}`);
  const body = beginCell().storeUint(0, 32).storeStringTail('hello from TonClient').endCell();
  const transfer = wallet.createTransfer({
    seqno: out.seqnoBefore,
    secretKey: keys.secretKey,
    sendMode: SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS,
    messages: [internal({ to: dest, value: TRANSFER, bounce: false, body })],
  });
  const fees = await client.estimateExternalMessageFee(wallet.address, {
    body: transfer, initCode: wallet.init.code, initData: wallet.init.data, ignoreSignature: true,
  });
  out.feeEstimate = fees.source_fees;
  await wallet.send(transfer);
  out.deployedAfter = await client.isContractDeployed(wallet.address);
  out.seqnoAfter = await wallet.getSeqno();
  out.destBalance = (await client.getBalance(dest)).toString();
  out.walletBalance = (await client.getBalance(wallet.address)).toString();

  // Transactions, parsed by @ton/core from the BoCs, and a lookup by (lt, hash).
  const txs = await client.getTransactions(wallet.address, { limit: 10 });
  out.walletTxs = txs.map((tx) => ({ lt: tx.lt.toString(), outMessages: tx.outMessages.size }));
  const newest = txs[0];
  const again = await client.getTransaction(wallet.address, newest.lt.toString(), newest.hash().toString('base64'));
  out.lookedUp = again !== null && again.hash().equals(newest.hash());
  const destTxs = await client.getTransactions(dest, { limit: 1 });
  const inMsg = destTxs[0].inMessage;
  out.destComment = inMsg.body.beginParse().skip(32).loadStringTail();
  out.destSource = inMsg.info.src.toRawString();

  const mc = await client.getMasterchainInfo();
  out.masterchain = { workchain: mc.workchain, latestSeqno: mc.latestSeqno };

  // A replayed external is rejected with toncenter's error envelope.
  try {
    await wallet.send(transfer);
    out.replay = 'accepted';
  } catch (err) {
    // axios rejects on the HTTP status; toncenter's error envelope is in the response body
    out.replay = { message: String(err.message), body: err.response ? err.response.data : null };
  }

  // The TS SDK's path: TonClient4 reads, and a wallet sender deploys a contract from a state init.
  const v4 = new TonClient4({ endpoint: `${base}/v4`, timeout: 10_000 });
  const last = await v4.getLastBlock();
  out.v4Seqno = last.last.seqno;
  out.v4RootState = (await v4.getAccount(last.last.seqno, root)).account.state.type;
  const v4Run = await v4.runMethod(last.last.seqno, root, 'proxy_hash_is_valid', [{ type: 'int', value: hash }]);
  out.v4ProxyHashValid = v4Run.reader.readNumber();
  const keys2 = await mnemonicToPrivateKey(await mnemonicNew(24));
  const wallet2 = v4.open(WalletContractV4.create({ workchain: 0, publicKey: keys2.publicKey }));
  out.wallet2 = wallet2.address.toRawString();
  await fetch(`${base}/api/v2/local/faucet`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address: out.wallet2, amount: FUNDING.toString() }),
  });
  const init = { code: Cell.fromBase64(probeCode), data: beginCell().storeUint(0, 96).endCell() };
  const probe = contractAddress(0, init);
  out.probe = probe.toRawString();
  const probeAccount = await v4.getAccount((await v4.getLastBlock()).last.seqno, probe);
  out.probeBefore = probeAccount.account.state.type;
  await wallet2.sender(keys2.secretKey).send({ to: probe, value: toNano('0.3'), bounce: false, init });
  const after = (await v4.getLastBlock()).last.seqno;
  out.probeAfter = (await v4.getAccountLite(after, probe)).account.state.type;
  out.wallet2Seqno = await wallet2.getSeqno();
  out.probeSeqno = (await v4.runMethod(after, probe, 'seqno')).reader.readNumber();

  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`driver failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
