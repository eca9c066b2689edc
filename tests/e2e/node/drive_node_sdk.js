#!/usr/bin/env node
// Drives the unmodified npm `mixpanel` client against a live trackyard over HTTPS.
//
// Config comes from the environment (tests/e2e/test_node_sdk.py sets it):
//   TRACKYARD_URL          https://127.0.0.1:<port>
//   TRACKYARD_TOKEN        project token
//   TRACKYARD_SECRET       legacy API secret (Node sends it as Basic `secret:`; HTTPS only)
//   TRACKYARD_PROJECT_ID, TRACKYARD_SA_USERNAME, TRACKYARD_SA_SECRET   service account
//   TRACKYARD_BASE_MS      a recent time in ms; /track events are placed after it
//   TRACKYARD_IMPORT_MS    an old time in ms, for /import
// plus NODE_EXTRA_CA_CERTS naming the test CA.
//
// Every call runs after the previous one has answered, so profile operations
// apply in order. Any callback error prints the error and exits non-zero. On
// success it prints one JSON summary line on stdout.
"use strict";

const Mixpanel = require("mixpanel");

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`missing environment variable ${name}`);
  }
  return value;
};

const url = new URL(env("TRACKYARD_URL"));
const token = env("TRACKYARD_TOKEN");
const BASE_MS = Number(env("TRACKYARD_BASE_MS"));
const IMPORT_MS = Number(env("TRACKYARD_IMPORT_MS"));
// Six `>` or six `~` in a row always contain one base64-aligned triple, which
// encodes to a `+` (0x3E3E3E -> "Pj4+", 0x7E7E7E -> "fn5+"): the batch bodies
// below are guaranteed to carry `+` signs, sent without percent-encoding.
const PLUS_MAKER = ">>>>>> ~~~~~~ Zoë 東京";

const server = {
  host: url.hostname,
  port: Number(url.port),
  protocol: url.protocol.replace(":", ""),
};
const withSecret = Mixpanel.init(token, { ...server, secret: env("TRACKYARD_SECRET") });
const verbose = Mixpanel.init(token, { ...server, verbose: true });
const withServiceAccount = Mixpanel.init(token, {
  ...server,
  credentials: new Mixpanel.ServiceAccountCredentials(
    env("TRACKYARD_SA_USERNAME"),
    env("TRACKYARD_SA_SECRET"),
    env("TRACKYARD_PROJECT_ID"),
  ),
});

let calls = 0;
const batchBodies = [];

// Run one SDK call; resolve when its callback reports success.
function call(label, invoke) {
  return new Promise((resolve, reject) => {
    calls += 1;
    invoke((err) => {
      const errors = Array.isArray(err) ? err : err ? [err] : [];
      if (errors.length > 0) {
        reject(new Error(`${label}: ${errors.map((e) => e.message || e).join("; ")}`));
      } else {
        resolve();
      }
    });
  });
}

// The base64 the SDK posted for each 50-event chunk (it mutates the events in
// place before encoding, so they now hold exactly what was sent).
function recordBatchBodies(events) {
  for (let i = 0; i < events.length; i += 50) {
    const payload = JSON.stringify(events.slice(i, i + 50));
    batchBodies.push(Buffer.from(payload).toString("base64"));
  }
}

async function trackEvents(mp) {
  await call("track", (cb) =>
    mp.track(
      "Signed Up",
      {
        distinct_id: "node-user",
        time: new Date(BASE_MS),
        plan: "pro",
        name: PLUS_MAKER,
        nested: { level: { deep: [1, 2.5, { x: "ü" }] }, ok: true },
        tags: ["a", "b"],
      },
      cb,
    ),
  );
  await call("track without time", (cb) =>
    mp.track("Page Viewed", { distinct_id: "node-user" }, cb),
  );
  await call("verbose track", (cb) =>
    verbose.track("Verbose", { distinct_id: "node-user", time: BASE_MS + 1 }, cb),
  );

  const batch = [];
  for (let seq = 0; seq < 60; seq += 1) {
    batch.push({
      event: "Batched",
      properties: { distinct_id: `node-${seq % 5}`, seq, time: BASE_MS + 10 + seq, q: PLUS_MAKER },
    });
  }
  await call("track_batch", (cb) => mp.track_batch(batch, cb));
  recordBatchBodies(batch);
}

async function importEvents(mp) {
  await call("import", (cb) =>
    mp.import("Old Import", new Date(IMPORT_MS), { distinct_id: "node-user", q: PLUS_MAKER }, cb),
  );
  // A number is passed through as given: here seconds, which the server converts.
  await call("import seconds", (cb) =>
    mp.import("Old Import Seconds", IMPORT_MS / 1000, { distinct_id: "node-user" }, cb),
  );

  const batch = [];
  for (let seq = 0; seq < 55; seq += 1) {
    batch.push({
      event: "Old Batch",
      properties: {
        distinct_id: `node-${seq}`,
        seq,
        time: new Date(IMPORT_MS + seq * 1000),
        q: PLUS_MAKER,
      },
    });
  }
  await call("import_batch", (cb) => mp.import_batch(batch, cb));
  recordBatchBodies(batch);

  await call("import with service account", (cb) =>
    withServiceAccount.import("SA Import", new Date(IMPORT_MS), { distinct_id: "node-sa" }, cb),
  );
  const saBatch = [0, 1, 2].map((seq) => ({
    event: "SA Batch",
    properties: { distinct_id: "node-sa", seq, time: IMPORT_MS + seq },
  }));
  await call("import_batch with service account", (cb) =>
    withServiceAccount.import_batch(saBatch, cb),
  );
}

async function peopleOperations(mp) {
  const people = mp.people;
  const id = "node-user";
  await call("people.set", (cb) =>
    people.set(id, { $name: "Zoë", plan: "free", tags: ["a"], ip: "203.0.113.9" }, cb),
  );
  await call("people.set one property", (cb) => people.set(id, "city", "Köln", cb));
  await call("people.set_once", (cb) =>
    people.set_once(id, { plan: "pro", source: "node", remove_me: 1 }, cb),
  );
  await call("people.increment object", (cb) =>
    people.increment(id, { logins: 1, credits: 2.5 }, cb),
  );
  await call("people.increment one", (cb) => people.increment(id, "logins", 2, cb));
  await call("people.append", (cb) => people.append(id, "pages", "home", cb));
  await call("people.append object", (cb) => people.append(id, { pages: "home" }, cb));
  await call("people.union", (cb) => people.union(id, { tags: ["a", "b", "c"], single: "x" }, cb));
  await call("people.remove", (cb) => people.remove(id, { tags: "a" }, cb));
  await call("people.unset one", (cb) => people.unset(id, "source", cb));
  await call("people.unset list", (cb) => people.unset(id, ["remove_me"], cb));
  await call("people.track_charge", (cb) => people.track_charge(id, 5, cb));
  await call("people.clear_charges", (cb) => people.clear_charges(id, cb));

  const payer = "node-payer";
  await call("people.track_charge with time", (cb) =>
    people.track_charge(payer, 9.99, { $time: new Date("2026-03-04T05:06:07Z") }, cb),
  );
  await call("people.track_charge plain", (cb) => people.track_charge(payer, 20, cb));

  await call("people.set ignore_time", (cb) =>
    people.set("node-quiet", { quiet: true }, { $ignore_time: true }, cb),
  );
  await call("people.set doomed", (cb) => people.set("node-gone", { temporary: true }, cb));
  await call("people.delete_user", (cb) => people.delete_user("node-gone", cb));
}

async function groupOperations(mp) {
  const groups = mp.groups;
  const [key, id] = ["company", "Acme ü"];
  await call("groups.set", (cb) =>
    groups.set(key, id, { $name: "Acme", industry: "widgets", items: ["anvil"] }, cb),
  );
  await call("groups.set_once", (cb) =>
    groups.set_once(key, id, { industry: "rockets", founded: 1949 }, cb),
  );
  await call("groups.union", (cb) =>
    groups.union(key, id, { items: ["anvil", "rocket", "magnet"] }, cb),
  );
  await call("groups.remove", (cb) => groups.remove(key, id, { items: "magnet" }, cb));
  await call("groups.unset", (cb) => groups.unset(key, id, "founded", cb));
  await call("groups.set doomed", (cb) => groups.set(key, "Gone Inc", "x", 1, cb));
  await call("groups.delete_group", (cb) => groups.delete_group(key, "Gone Inc", cb));
}

async function main() {
  await trackEvents(withSecret);
  await importEvents(withSecret);
  await peopleOperations(withSecret);
  await groupOperations(withSecret);
  await call("alias", (cb) => withSecret.alias("node-user", "node-alias", cb));
  const summary = {
    calls,
    batch_requests: batchBodies.length,
    batch_bodies_with_plus: batchBodies.filter((body) => body.includes("+")).length,
  };
  process.stdout.write(JSON.stringify(summary) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  },
);
