// Live view: poll for events that arrived after the newest one shown, and
// put them at the top. Built with textContent only: event data is never HTML.
(function () {
  "use strict";
  const POLL_MS = 2000;
  const MAX_ROWS = 300;
  const state = JSON.parse(document.getElementById("live-state").textContent);
  const tbody = document.getElementById("live-events");
  const perMinute = document.getElementById("per-minute");
  const status = document.getElementById("live-status");

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function formatTime(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function sortedJson(value) {
    if (Array.isArray(value)) return value.map(sortedJson);
    if (value && typeof value === "object") {
      return Object.keys(value).sort().reduce((out, k) => { out[k] = sortedJson(value[k]); return out; }, {});
    }
    return value;
  }

  function row(event) {
    const tr = document.createElement("tr");
    tr.dataset.position = event.position;
    tr.className = "fresh";
    tr.append(cell(formatTime(event.time_ms), "nowrap"), cell(event.event, "event-name"));
    const who = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/console/profile?distinct_id=" + encodeURIComponent(event.distinct_id);
    link.textContent = event.distinct_id;
    who.append(link);
    const props = document.createElement("td");
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = Object.keys(event.properties).length + " properties";
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(sortedJson(event.properties), null, 2);
    details.append(summary, pre);
    props.append(details);
    tr.append(who, props);
    return tr;
  }

  function show(events) {
    const empty = tbody.querySelector("tr.empty");
    if (empty && events.length) empty.remove();
    for (const event of events.slice().reverse()) tbody.prepend(row(event));
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
  }

  async function poll() {
    const query = new URLSearchParams({after: state.position, event: state.event, distinct_id: state.distinct_id});
    try {
      const response = await fetch("/console/live/feed?" + query, {headers: {Accept: "application/json"}});
      if (!response.ok || !(response.headers.get("content-type") || "").startsWith("application/json")) {
        status.textContent = response.redirected ? "· signed out: reload the page" : "· not updating (" + response.status + ")";
        return setTimeout(poll, POLL_MS * 5);
      }
      const feed = await response.json();
      show(feed.events);
      state.position = feed.position;
      perMinute.textContent = feed.per_minute;
      status.textContent = "· updated " + new Date().toLocaleTimeString();
    } catch (error) {
      status.textContent = "· server unreachable, retrying";
    }
    setTimeout(poll, POLL_MS);
  }

  setTimeout(poll, POLL_MS);
})();
