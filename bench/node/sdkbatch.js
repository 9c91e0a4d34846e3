'use strict';
// Turns a batch as the forwarder sends it (plain JSON) into the Node SDK's model objects,
// the way an application using the SDK builds them: mParticle.Batch, AppEvent or
// CommerceEvent added with addEvent, ProductAction and Product, UserIdentities,
// DeviceInformation, ApplicationInformation, BatchContext.
//
// Fields are set under the Events API's wire names. Two places where the SDK's models and
// the wire format part ways are kept to the wire format so the server accepts the batch:
// UserIdentities names the customer id `customerid` (the API's field is `customer_id`), and
// Batch has no `partner_identities` (set as a plain property).

const mParticle = require('mparticle');

function assign(target, src) {
  for (const [k, v] of Object.entries(src || {})) target[k] = v;
  return target;
}

function toSdkEvent(e) {
  const d = e.data || {};
  if (e.event_type === 'commerce_event') {
    const ev = new mParticle.CommerceEvent();
    const { product_action: pa, ...rest } = d;
    assign(ev, rest);
    if (pa) {
      const action = new mParticle.ProductAction(pa.action, pa.transaction_id, pa.total_amount);
      if (pa.products) {
        action.products = pa.products.map((p) => {
          const prod = new mParticle.Product(p.id, p.name, p.price);
          if (p.quantity !== undefined) prod.quantity = p.quantity;
          return prod;
        });
      }
      ev.product_action = action;
    }
    return ev;
  }
  const ev = new mParticle.AppEvent(d.custom_event_type, d.event_name);
  assign(ev, d);
  return ev;
}

function toSdkBatch(b) {
  const batch = new mParticle.Batch(b.environment);
  for (const e of b.events || []) batch.addEvent(toSdkEvent(e));
  if (b.user_identities) batch.user_identities = assign(new mParticle.UserIdentities(), b.user_identities);
  if (b.device_info) batch.device_info = assign(new mParticle.DeviceInformation(), b.device_info);
  if (b.application_info) batch.application_info = assign(new mParticle.ApplicationInformation(), b.application_info);
  if (b.context) {
    const ctx = new mParticle.BatchContext();
    if (b.context.data_plan) ctx.data_plan = assign(new mParticle.DataPlanContext(), b.context.data_plan);
    batch.context = ctx;
  }
  for (const k of ['partner_identities', 'user_attributes', 'mpid', 'ip', 'source_request_id']) {
    if (b[k] !== undefined) batch[k] = b[k];
  }
  return batch;
}

// sameJSON reports whether the SDK objects serialise to the same JSON value as the input
// (key order aside).
function sameJSON(plain, sdk) {
  const canon = (v) =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]))
        : v;
  return JSON.stringify(canon(plain)) === JSON.stringify(canon(JSON.parse(JSON.stringify(sdk))));
}

module.exports = { toSdkBatch, sameJSON };
