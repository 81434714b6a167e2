// Drives the third-party COCOON TypeScript SDK for our interop tests.
//
// Usage: node driver.mjs CONFIG.json   (or the JSON config on stdin)
//
// The config names the built SDK (`sdk_dir`, holding dist/ and node_modules/) and what to do:
//   {"sdk_dir": "...", "cmd": "wallet", "mnemonic": "..."?}
//       prints {"event":"wallet", mnemonic, address (friendly), raw_address, public_key}; a fresh
//       24-word mnemonic is made when none is given.
//   {"sdk_dir": "...", "cmd": "run", "proxy_url": "host:port", "mnemonic": "...", "secret": "..."?,
//    "model": "..."?, "prompt": "...", "max_tokens": 16, "steps": ["models", "chat", "stream"],
//    "tls_cert_path"?, "tls_key_path"?, "ton_endpoint"?, "ton_v4_endpoint"?,
//    "auto_register": false, "force_is_test": false, "trace": false, "timeout_ms": 60000}
//       ("trace" adds one "part" line per answer part the proxy sends: type, flags, size, head)
//       prints one JSON line per result: "connected" (handshake facts), "models", "chat" (text,
//       usage, tokens_used), "stream" (text, chunk count, usage if the engine sent it, tokens_used),
//       then "done".
// On any failure it prints {"event":"error", step, name, message} and exits 1.
//
// `tokens_used` is the proxy's `client.queryFinalInfo.tokens_used` of each answer. The SDK does not
// surface it through its public API, so the driver wraps its session's `sendQuery` (a runtime
// property; TypeScript's `private` does not hide it) and reads the final answer it resolves with.

import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

function emit(obj) {
  process.stdout.write(
    JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) + '\n',
  );
}

function readConfig() {
  const arg = process.argv[2];
  const text = arg && arg !== '-' ? readFileSync(arg, 'utf-8') : readFileSync(0, 'utf-8');
  return JSON.parse(text);
}

function tokensUsed(answer) {
  const info = answer?.finalInfo;
  if (!info || !info.tokensUsed) return null;
  const t = info.tokensUsed;
  return {
    prompt: Number(t.promptTokensUsed),
    cached: Number(t.cachedTokensUsed),
    completion: Number(t.completionTokensUsed),
    reasoning: Number(t.reasoningTokensUsed),
    total: Number(t.totalTokensUsed),
  };
}

// Wrap the session's sendQuery once per prototype: every answer's final info lands in `sink`.
function captureFinalInfo(session, sink, trace) {
  const proto = Object.getPrototypeOf(session);
  if (proto.__cocoonDriverWrapped) return;
  const original = proto.sendQuery;
  proto.sendQuery = async function (modelName, httpRequest, options = {}) {
    const onPart = options.onPart;
    const traced = trace
      ? {
          ...options,
          onPart: (part) => {
            emit({
              event: 'part',
              type: part._type,
              flags: part.flags ?? null,
              bytes: part.answer?.length ?? null,
              head: part.answer ? Buffer.from(part.answer).subarray(0, 64).toString('hex') : null,
              tokens_used: tokensUsed(part),
            });
            onPart?.(part);
          },
        }
      : options;
    const answer = await original.call(this, modelName, httpRequest, traced);
    sink.push({ type: answer._type, tokens_used: tokensUsed(answer), error: answer.error ?? null });
    return answer;
  };
  proto.__cocoonDriverWrapped = true;
}

// The SDK always sends client.params with is_test = false; the reference proxy in its test mode
// (fake TON) refuses that ("test mode mismatch"). With `force_is_test` the driver flips that one Bool
// in the outgoing client.connectToProxy frame (same length, so framing is untouched); nothing else.
const CONNECT_TO_PROXY = Buffer.from('f4a05fff', 'hex'); // client.connectToProxy ff5fa0f4, LE
const BOOL_FALSE = Buffer.from('379779bc', 'hex'); // boolFalse bc799737, LE
const BOOL_TRUE = Buffer.from('b5757299', 'hex'); // boolTrue 997275b5, LE

function forceIsTest() {
  const original = tls.TLSSocket.prototype.write;
  tls.TLSSocket.prototype.write = function (chunk, ...rest) {
    if (Buffer.isBuffer(chunk)) {
      const at = chunk.indexOf(CONNECT_TO_PROXY);
      const bool = at >= 0 ? chunk.indexOf(BOOL_FALSE, at + 8) : -1;
      if (bool >= 0) {
        chunk = Buffer.from(chunk);
        BOOL_TRUE.copy(chunk, bool);
        emit({ event: 'patched', what: 'client.params.is_test=true' });
      }
    }
    return original.call(this, chunk, ...rest);
  };
}

async function loadSdk(sdkDir) {
  const sdk = await import(pathToFileURL(path.join(sdkDir, 'dist', 'index.js')).href);
  const require = createRequire(path.join(sdkDir, 'package.json'));
  const tonCrypto = await import(pathToFileURL(require.resolve('@ton/crypto')).href);
  const ton = await import(pathToFileURL(require.resolve('@ton/ton')).href);
  return { sdk, tonCrypto: tonCrypto.default ?? tonCrypto, ton: ton.default ?? ton };
}

async function wallet(cfg, libs) {
  const { mnemonicNew, mnemonicToPrivateKey } = libs.tonCrypto;
  const words = cfg.mnemonic ? cfg.mnemonic.trim().split(/\s+/) : await mnemonicNew(24);
  const keys = await mnemonicToPrivateKey(words);
  const w = libs.ton.WalletContractV4.create({ workchain: 0, publicKey: keys.publicKey });
  emit({
    event: 'wallet',
    mnemonic: words.join(' '),
    address: w.address.toString({ bounceable: true, testOnly: false }),
    raw_address: w.address.toRawString(),
    public_key: Buffer.from(keys.publicKey).toString('hex'),
  });
}

async function run(cfg, libs) {
  const { Cocoon } = libs.sdk;
  const options = {
    wallet: cfg.mnemonic,
    proxyUrl: cfg.proxy_url,
    timeout: cfg.timeout_ms ?? 60_000,
    autoRegisterOnLongAuth: Boolean(cfg.auto_register),
  };
  if (cfg.secret !== undefined && cfg.secret !== null) options.secretString = cfg.secret;
  if (cfg.tls_cert_path) options.tlsCert = readFileSync(cfg.tls_cert_path);
  if (cfg.tls_key_path) options.tlsKey = readFileSync(cfg.tls_key_path);
  if (cfg.ton_endpoint) options.tonEndpoint = cfg.ton_endpoint;
  if (cfg.ton_v4_endpoint) options.tonV4Endpoint = cfg.ton_v4_endpoint;
  if (cfg.force_is_test) forceIsTest();
  const client = new Cocoon(options);
  const finals = [];
  current = 'connect';
  try {
    const started = performance.now();
    await client.connect();
    const session = client.session;
    captureFinalInfo(session, finals, Boolean(cfg.trace));
    const hs = session.handshakeResult ?? {};
    emit({
      event: 'connected',
      ms: Math.round(performance.now() - started),
      proto_version: session.protoVersion,
      client_sc_address: hs.clientScAddress ?? null,
      proxy_sc_address: hs.proxyParams?.proxyScAddress ?? null,
      tokens_committed_to_db: hs.tokensCommittedToDb ?? null,
      max_tokens: hs.maxTokens ?? null,
    });
    let model = cfg.model;
    const steps = cfg.steps ?? ['models', 'chat', 'stream'];
    for (const step of steps) {
      current = step;
      if (step === 'models') {
        const list = await client.models.list();
        emit({ event: 'models', models: list.data });
        model = model ?? list.data[0]?.id;
      } else if (step === 'chat' || step === 'stream') {
        if (!model) throw new Error('no model: none given and none listed');
        const params = {
          model,
          messages: [{ role: 'user', content: cfg.prompt ?? 'Say OK' }],
          max_tokens: cfg.max_tokens ?? 16,
        };
        const started = performance.now();
        if (step === 'chat') {
          const res = await client.chat.completions.create(params);
          emit({
            event: 'chat',
            ms: Math.round(performance.now() - started),
            text: res.choices?.[0]?.message?.content ?? null,
            finish_reason: res.choices?.[0]?.finish_reason ?? null,
            usage: res.usage ?? null,
            tokens_used: finals.at(-1)?.tokens_used ?? null,
          });
        } else {
          const stream = await client.chat.completions.create({ ...params, stream: true });
          let text = '';
          let chunks = 0;
          let usage = null;
          let finish = null;
          for await (const chunk of stream) {
            chunks += 1;
            text += chunk.choices?.[0]?.delta?.content ?? '';
            finish = chunk.choices?.[0]?.finish_reason ?? finish;
            if (chunk.usage) usage = chunk.usage;
          }
          emit({
            event: 'stream',
            ms: Math.round(performance.now() - started),
            text,
            chunks,
            finish_reason: finish,
            usage,
            tokens_used: finals.at(-1)?.tokens_used ?? null,
          });
        }
      } else {
        throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
    }
    emit({ event: 'done' });
  } finally {
    await client.disconnect();
  }
}

let current = 'config'; // the step under way, named in the error line

async function main() {
  try {
    const cfg = readConfig();
    current = 'load';
    const libs = await loadSdk(cfg.sdk_dir);
    const cmd = cfg.cmd ?? 'run';
    current = cmd;
    if (cmd === 'wallet') await wallet(cfg, libs);
    else if (cmd === 'run') await run(cfg, libs);
    else throw new Error(`unknown cmd ${JSON.stringify(cmd)}`);
  } catch (err) {
    emit({
      event: 'error',
      step: current,
      name: err?.name ?? 'Error',
      message: err instanceof Error ? err.message : String(err),
      cause: err?.cause instanceof Error ? err.cause.message : null,
    });
    process.exit(1);
  }
  process.exit(0);
}

await main();
