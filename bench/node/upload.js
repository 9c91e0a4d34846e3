#!/usr/bin/env node
// The official mParticle Node SDK's side of the comparison (issue 6): it uploads the batches
// that `benchcompare gen` wrote to the local contract server, one batch per request
// (/v2/events, EventsApi.uploadEvents) or 100 per request (/v2/bulkevents,
// EventsApi.bulkUploadEvents), one request after another as the Go client does, and prints
// the same benchmark line as `benchcompare run`: events per CPU-second (process.cpuUsage,
// user + system, all threads) and requests per 1,000 events, counting only what the
// server accepted.
//
//   node bench/node/upload.js --batches bench/results/batches.json \
//        --mpserver http://127.0.0.1:9999 --mode bulk --rounds 3
'use strict';

const fs = require('fs');
const http = require('http');
const mParticle = require('mparticle');
const { toSdkBatch, sameJSON } = require('./sdkbatch');

const KEY = 'bench-key';
const SECRET = 'bench-secret';
const FEED = 'bench-feed';
const BULK_SIZE = 100;

function args() {
  const out = { batches: 'bench/results/batches.json', mpserver: 'http://127.0.0.1:9999', mode: 'bulk', rounds: 1, warmup: 200 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--?/, '');
    if (!(k in out)) throw new Error(`unknown flag ${argv[i]}`);
    out[k] = typeof out[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (out.mode !== 'single' && out.mode !== 'bulk') throw new Error('--mode must be single or bulk');
  return out;
}

// request talks to the contract server's inspection paths, apart from the SDK.
function request(method, url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function stats(base) {
  const r = await request('GET', base + '/_mpserver/stats');
  if (r.status !== 200) throw new Error(`stats: HTTP ${r.status}`);
  return JSON.parse(r.body);
}

async function reset(base) {
  const r = await request('POST', base + '/_mpserver/reset');
  if (r.status !== 204) throw new Error(`reset: HTTP ${r.status}`);
}

function call(api, method, body) {
  return new Promise((resolve) => {
    api[method](body, (error, data, response) => {
      resolve({ ok: !error, status: response ? response.status : 0, error });
    });
  });
}

async function upload(api, batches, mode, refusals) {
  const send = async (method, body) => {
    const r = await call(api, method, body);
    if (!r.ok) refusals.set(r.status, (refusals.get(r.status) || 0) + 1);
  };
  if (mode === 'single') {
    for (const b of batches) await send('uploadEvents', b);
    return;
  }
  for (let i = 0; i < batches.length; i += BULK_SIZE) {
    await send('bulkUploadEvents', batches.slice(i, i + BULK_SIZE));
  }
}

async function main() {
  const o = args();
  const plain = JSON.parse(fs.readFileSync(o.batches, 'utf8'));
  // Built with the SDK's model classes before measuring, as an application would hold them.
  const batches = plain.map(toSdkBatch);
  const reshaped = plain.filter((p, i) => !sameJSON(p, batches[i])).length;
  if (reshaped > 0) {
    console.error(`upload.js: ${reshaped} of ${plain.length} batches serialise differently through the SDK models`);
  }

  const api = new mParticle.EventsApi(new mParticle.Configuration(KEY, SECRET));
  // The SDK's default is https://s2s.mparticle.com/v2.
  api.apiClient.basePath = o.mpserver.replace(/\/+$/, '') + '/v2';

  const refusals = new Map();
  await upload(api, batches.slice(0, o.warmup), o.mode, refusals);
  refusals.clear();

  let cpuMicros = 0;
  let wallNs = 0n;
  let events = 0;
  let requests = 0;
  for (let r = 0; r < o.rounds; r++) {
    await reset(o.mpserver);
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await upload(api, batches, o.mode, refusals);
    const c = process.cpuUsage(c0);
    wallNs += process.hrtime.bigint() - t0;
    cpuMicros += c.user + c.system;
    const st = await stats(o.mpserver);
    events += st.feeds && st.feeds[FEED] ? st.feeds[FEED].events : 0;
    requests += st.requests;
  }
  if (refusals.size > 0) {
    console.error('upload.js: requests refused by the contract server, by status:', Object.fromEntries(refusals));
  }
  if (events === 0) throw new Error('the contract server accepted no event');
  const cpuNs = cpuMicros * 1000;
  console.log(
    `BenchmarkUpload/client=node-sdk/mode=${o.mode} \t${events}\t${(Number(wallNs) / events).toFixed(0)} ns/op\t` +
      `${(cpuNs / events).toFixed(0)} cpu-ns/event\t${(events / (cpuNs / 1e9)).toFixed(0)} events/cpu-s\t` +
      `${((1000 * requests) / events).toFixed(2)} reqs/1000-events`
  );
}

main().catch((err) => {
  console.error('upload.js:', err.message || err);
  process.exit(1);
});
