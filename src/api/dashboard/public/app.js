// The live dashboard: JSON endpoints for the state, /stream (server-sent events) for what
// changes. Transaction events carry their number as id; on a `missed` or `reset` event, a jump in
// those ids, or a reconnect, everything is refetched. Each panel says how old its figures are.
(() => {
  const MINUTE = 60_000;
  const TX_ROWS = 25;
  const ADDR_ROWS = 10;
  const $ = (id) => document.getElementById(id);

  // ---- formatting -------------------------------------------------------------------------
  const satFmt = new Intl.NumberFormat("en-US");
  const sat = (n) => `${satFmt.format(n)} sat`;
  /** BTC with a precision that fits the amount (8 decimals below 0.01 BTC, 2 from 1000 BTC). */
  function btc(s) {
    const b = s / 1e8;
    const digits = b >= 1000 ? 2 : b >= 1 ? 4 : b >= 0.01 ? 6 : 8;
    return b.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  const short = (h) => `${h.slice(0, 8)}…${h.slice(-8)}`;
  const pad = (n) => String(n).padStart(2, "0");
  const hms = (sec) => {
    const d = new Date(sec * 1000);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  };
  function age(seconds) {
    if (seconds == null || !Number.isFinite(seconds)) return "–";
    if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  function copyButton(text) {
    const b = el("button", { type: "button", class: "copy", title: `copy ${text}`, "aria-label": "copy", text: "copy" });
    b.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        b.textContent = "✓";
      } catch {
        b.textContent = "!";
      }
      b.classList.add("done");
      setTimeout(() => {
        b.textContent = "copy";
        b.classList.remove("done");
      }, 1200);
    });
    return b;
  }
  /** An answer's JSON; a failed request throws with a short reason ("503 unavailable", "API unreachable"). /health's 503 is an answer. */
  async function getJson(path) {
    let res;
    try {
      res = await fetch(path, { headers: { accept: "application/json" } });
    } catch {
      throw new Error("API unreachable");
    }
    if (res.ok || (res.status === 503 && path === "/health")) return res.json();
    const body = await res.json().catch(() => ({}));
    throw new Error(`${res.status}${body.error ? ` ${body.error}` : ""}`);
  }

  // ---- age of each panel ------------------------------------------------------------------
  // Each panel shows how long ago what it displays was received (an answer, or a stream event
  // that changed it), ticking every second. Every panel is read again every 10 s (REFRESH_MS);
  // one older than three of those, or fed by the stream while the stream is down, is marked
  // stale, with why when known: its last read failed, or the stream is reconnecting.
  const REFRESH_MS = 10_000;
  const STALE_MS = 3 * REFRESH_MS;
  /** panel → its age element, its card, and whether the stream feeds it between reads. */
  const PANELS = {
    counts: { age: "counts-age", card: "chart-card", live: true },
    fees: { age: "fees-age", card: "fee-card", live: false },
    addresses: { age: "addresses-age", card: "addresses-card", live: false },
    health: { age: "health-age", card: "health-card", live: false },
    transactions: { age: "tx-age", card: "tx-card", live: true },
  };
  /** panel → { at: ms received (null before the first), error: why its last read failed } */
  const received = {};
  for (const name of Object.keys(PANELS)) received[name] = { at: null, error: null };
  /** The stream: "connecting", "open", "reconnecting" or "closed" (refused, no retry). */
  let stream = "connecting";
  const STREAM_WHY = { reconnecting: "stream reconnecting", closed: "live updates off (stream refused), reload the page" };
  function ago(ms) {
    const s = Math.floor(Math.max(0, ms) / 1000);
    if (s < 1) return "just now";
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return `${(s / 3600).toFixed(1)} h ago`;
  }
  function arrived(name) {
    received[name] = { at: Date.now(), error: null };
    showAge(name);
  }
  function failed(name, err) {
    received[name].error = err?.message || String(err);
    showAge(name);
  }
  /** `load()` for panel `name`: a failure is shown on the panel, then thrown on. */
  function tracked(name, load) {
    return load().catch((err) => {
      failed(name, err);
      throw err;
    });
  }
  function showAge(name) {
    const p = PANELS[name];
    const { at, error } = received[name];
    const streamWhy = p.live ? STREAM_WHY[stream] : undefined;
    const why = [error && `fetch failed: ${error}`, streamWhy].filter(Boolean).join(" · ");
    const age = at === null ? null : Date.now() - at;
    const stale = at === null ? Boolean(why) : age > STALE_MS || Boolean(streamWhy);
    const text = `${stale ? "stale: " : ""}${at === null ? (why ? "not loaded" : "loading…") : `updated ${ago(age)}`}${why ? ` · ${why}` : ""}`;
    const e = $(p.age);
    if (e.textContent !== text) e.textContent = text;
    e.title = at === null ? "" : `received ${new Date(at).toISOString().slice(11, 19)} UTC; read again every ${REFRESH_MS / 1000} s${p.live ? ", and live from the stream" : ""}`;
    e.dataset.at = at === null ? "" : String(at);
    e.classList.toggle("stale", stale);
    e.classList.toggle("failing", Boolean(why));
    $(p.card).classList.toggle("stale", stale);
  }
  const showAges = () => {
    for (const name of Object.keys(PANELS)) showAge(name);
  };

  // ---- completeness -----------------------------------------------------------------------
  // Every data answer says whether its figures are final (complete, incomplete_reason); a figure
  // still filling is marked next to its title, with why.
  const REASON = { replaying: "replaying the log", log_gap: "records missing from the log", behind: "a consumer is behind" };
  function flag(id, body, what) {
    const e = $(id);
    e.hidden = body.complete !== false;
    e.dataset.complete = String(body.complete !== false);
    e.textContent = `incomplete: ${REASON[body.incomplete_reason] || body.incomplete_reason || "?"}`;
    e.title = what || "";
  }

  // ---- chart ------------------------------------------------------------------------------
  /** minute start (ms) → { count, value, complete } */
  const minutes = new Map();
  let chart;
  function chartData() {
    const current = Math.floor(Date.now() / MINUTE) * MINUTE;
    for (const k of minutes.keys()) if (k < current - 60 * MINUTE) minutes.delete(k);
    const xs = [],
      counts = [],
      values = [];
    for (let t = current - 60 * MINUTE; t <= current; t += MINUTE) {
      const m = minutes.get(t);
      xs.push(t / 1000);
      counts.push(m ? m.count : t === current ? null : 0);
      values.push(m ? m.value / 1e8 : t === current ? null : 0);
    }
    let c = 0,
      v = 0;
    for (let i = 0; i < 60; i++) {
      c += counts[i] || 0;
      v += (values[i] || 0) * 1e8;
    }
    $("hour-count").textContent = satFmt.format(c);
    $("hour-value").textContent = btc(v);
    $("hour-value").title = sat(v);
    return [xs, counts, values];
  }
  function chartSize() {
    const w = $("chart").clientWidth;
    return { width: w, height: w < 500 ? 220 : 280 };
  }
  function drawChart() {
    const data = chartData();
    if (chart) return chart.setData(data);
    const axis = { stroke: "#8a8fa8", grid: { stroke: "#2d3048", width: 1 }, ticks: { stroke: "#2d3048" } };
    chart = new uPlot(
      {
        ...chartSize(),
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          n: { auto: true, range: (_u, _lo, hi) => [0, Math.max(1, hi * 1.1)] },
          btc: { auto: true, range: (_u, _lo, hi) => [0, Math.max(0.001, hi * 1.1)] },
        },
        axes: [
          { ...axis, values: (_u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(11, 16)) },
          { ...axis, scale: "n", label: "tx / min", labelSize: 18, size: 50 },
          { ...axis, scale: "btc", side: 1, grid: { show: false }, label: "BTC / min", labelSize: 18, size: 60 },
        ],
        series: [
          { label: "minute (UTC)", value: (_u, v) => (v == null ? "–" : new Date(v * 1000).toISOString().slice(11, 16)) },
          {
            label: "transactions",
            scale: "n",
            stroke: "#4e9cff",
            fill: "rgba(78,156,255,0.18)",
            width: 2,
            paths: uPlot.paths.bars({ size: [0.7, 40] }),
            value: (_u, v) => (v == null ? "–" : satFmt.format(v)),
          },
          { label: "value BTC", scale: "btc", stroke: "#f7931a", width: 2, points: { show: false }, value: (_u, v) => (v == null ? "–" : btc(v * 1e8)) },
        ],
      },
      data,
      $("chart"),
    );
    new ResizeObserver(() => chart.setSize(chartSize())).observe($("chart"));
  }

  // ---- fee rates --------------------------------------------------------------------------
  // GET /fee_rates_per_minute: the 60 complete minutes before the current one, oldest first. It
  // has no stream events: it is read on start and on a refetch, with the flags, and just after
  // each minute ends. Per minute the median (p50) is a line, the p10–p90 range a band around it,
  // on a log scale: the bands are roughly geometric (1, 2, 3 … 100, 125 … 2000 sat/vB), and the
  // top one, "2000 and above", bounds the scale, so a 2000+ outlier minute leaves 1–20 readable.
  const rate = (v) => (v == null ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: v < 10 ? 2 : v < 100 ? 1 : 0 }));
  const RATE_TICKS = [1, 3, 10, 30, 100, 300, 1000, 3000];
  let feeChart;
  let feeSeq = 0;
  async function loadFees() {
    const mine = ++feeSeq;
    const body = await getJson("/fee_rates_per_minute");
    if (mine !== feeSeq) return; // a newer request answers instead
    if (!Array.isArray(body.minutes)) throw new Error(body.message || body.error || "no minutes");
    showFees(body);
    arrived("fees");
  }
  const reloadFees = () => tracked("fees", loadFees);
  function showFees(body) {
    const ms = body.minutes;
    const xs = [],
      p10 = [],
      p50 = [],
      p90 = [];
    let fee = 0,
      vbytes = 0,
      count = 0,
      unknown = 0;
    for (const m of ms) {
      xs.push(Date.parse(m.start) / 1000);
      p10.push(m.p10);
      p50.push(m.p50);
      p90.push(m.p90);
      fee += m.total_fee;
      vbytes += m.total_vsize;
      count += m.count;
      unknown += m.unknown_fee;
    }
    // The current minute, empty: the same 61 minutes as the transactions chart.
    if (xs.length > 0) {
      xs.push(xs[xs.length - 1] + 60);
      p10.push(null);
      p50.push(null);
      p90.push(null);
    }
    // The hour's average: its fees over its virtual sizes, as each minute's avg_rate is.
    $("fee-avg").textContent = rate(vbytes > 0 && count > 0 ? fee / vbytes : null);
    $("fee-avg").title = `${sat(fee)} over ${satFmt.format(vbytes)} vB, ${satFmt.format(count)} tx; ${satFmt.format(unknown)} tx with an unknown fee not counted`;
    const last = ms[ms.length - 1];
    const lastFig = $("fee-last");
    lastFig.textContent = rate(last ? last.p50 : null);
    lastFig.dataset.start = last ? last.start : "";
    lastFig.title = !last
      ? ""
      : last.count === 0
        ? "no transaction with a known fee"
        : `p10 ${rate(last.p10)} · p90 ${rate(last.p90)} · average ${rate(last.avg_rate)} sat/vB · ${satFmt.format(last.count)} tx`;
    $("fee-last-label").textContent = last ? `median, ${last.minute}` : "median, last minute";
    const open = ms.filter((m) => m.complete === false).length;
    flag("fees-flag", body, `${open} of ${ms.length} minutes may miss transactions`);
    drawFees([xs, p90, p50, p10]);
  }
  function feeChartSize() {
    const w = $("fee-chart").clientWidth;
    return { width: w, height: w < 500 ? 220 : 280 };
  }
  function drawFees(data) {
    if (feeChart) return feeChart.setData(data);
    const axis = { stroke: "#8a8fa8", grid: { stroke: "#2d3048", width: 1 }, ticks: { stroke: "#2d3048" } };
    const legend = (_u, v) => (v == null ? "–" : rate(v));
    feeChart = new uPlot(
      {
        ...feeChartSize(),
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          // Rates are band bounds, at least 1 sat/vB, and at most 2000 ("2000 and above").
          rate: { distr: 3, log: 10, auto: true, range: (_u, _lo, hi) => [1, Math.max(10, (hi || 1) * 1.6)] },
        },
        axes: [
          { ...axis, values: (_u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(11, 16)) },
          {
            ...axis,
            scale: "rate",
            label: "sat/vB",
            labelSize: 18,
            size: 50,
            // Two lines a decade, evenly spaced on the log scale (uPlot draws nine).
            splits: (_u, _i, lo, hi) => RATE_TICKS.filter((v) => v >= lo && v <= hi),
            filter: (_u, splits) => splits,
            values: (_u, splits) => splits.map((v) => (v == null ? "" : rate(v))),
          },
        ],
        series: [
          { label: "minute (UTC)", value: (_u, v) => (v == null ? "–" : new Date(v * 1000).toISOString().slice(11, 16)) },
          { label: "p90", scale: "rate", stroke: "rgba(59,204,143,0.5)", width: 1, points: { show: false }, value: legend },
          { label: "median", scale: "rate", stroke: "#3bcc8f", width: 2, points: { show: true, size: 5, fill: "#3bcc8f" }, value: legend },
          { label: "p10", scale: "rate", stroke: "rgba(59,204,143,0.5)", width: 1, points: { show: false }, value: legend },
        ],
        bands: [{ series: [1, 3], fill: "rgba(59,204,143,0.14)" }],
      },
      data,
      $("fee-chart"),
    );
    new ResizeObserver(() => feeChart.setSize(feeChartSize())).observe($("fee-chart"));
  }
  /** Just after each minute ends (the fee endpoint has no stream events). */
  function feesEveryMinute() {
    setTimeout(
      () => {
        reloadFees().catch(() => {});
        feesEveryMinute();
      },
      MINUTE - (Date.now() % MINUTE) + 2_000,
    );
  }

  // ---- tables -----------------------------------------------------------------------------
  function txRow(tx, fresh) {
    const tr = el("tr", { "data-hash": tx.hash, "data-time": String(tx.time), class: fresh ? "new" : "" });
    tr.append(
      el("td", { class: "mono" }, el("a", { href: `/transactions/${tx.hash}`, title: tx.hash, text: short(tx.hash) }), copyButton(tx.hash)),
      el("td", { class: "num", title: new Date(tx.time * 1000).toISOString(), text: hms(tx.time) }),
      el("td", { class: "r hide-narrow", text: `${tx.inputs.length}/${tx.outputs.length}` }),
      el("td", { class: "r hide-narrow", text: tx.fee == null ? "–" : satFmt.format(tx.fee) }),
      el("td", { class: "r value", "data-sat": String(tx.value), title: sat(tx.value), text: btc(tx.value) }),
    );
    return tr;
  }
  function showTransactions(list) {
    $("transactions").tBodies[0].replaceChildren(...list.slice(0, TX_ROWS).map((tx) => txRow(tx, false)));
  }
  /** A transaction from the stream (flashed), or one of an answer merged into the rows (`flash` false). */
  function addTransaction(tx, flash = true) {
    const body = $("transactions").tBodies[0];
    if (body.querySelector(`tr[data-hash="${tx.hash}"]`)) return;
    // Newest first by time: place it among the rows (a straggler can be older than the top).
    const rows = [...body.rows];
    const before = rows.find((r) => Number(r.dataset.time) < tx.time || (Number(r.dataset.time) === tx.time && r.dataset.hash > tx.hash));
    const tr = txRow(tx, flash);
    if (before) body.insertBefore(tr, before);
    else if (rows.length < TX_ROWS) body.append(tr);
    else return;
    while (body.rows.length > TX_ROWS) body.lastElementChild.remove();
  }

  let side = "received";
  let addrSeq = 0;
  async function loadAddresses() {
    const mine = ++addrSeq;
    const body = await getJson(`/high_value_addr?side=${side}&limit=${ADDR_ROWS}`);
    if (mine !== addrSeq) return; // a newer request (side switch) answers instead
    flag("addr-flag", body, "the totals may miss transactions of the window");
    $("addresses").tBodies[0].replaceChildren(
      ...body.addresses.map((a, i) =>
        el(
          "tr",
          { "data-address": a.address },
          el("td", { class: "muted", text: String(i + 1) }),
          el("td", { class: "addr mono", title: a.address }, a.address),
          el("td", { class: "r", "data-sat": String(a.total_value), title: sat(a.total_value), text: btc(a.total_value) }),
        ),
      ),
    );
    $("addresses").dataset.side = side;
    arrived("addresses");
  }
  const reloadAddresses = () => tracked("addresses", loadAddresses);
  for (const b of document.querySelectorAll(".switch button")) {
    b.addEventListener("click", () => {
      side = b.dataset.side;
      for (const o of document.querySelectorAll(".switch button")) o.classList.toggle("on", o === b);
      reloadAddresses().catch(() => {});
    });
  }
  let addrTimer;
  const addressesSoon = () => {
    clearTimeout(addrTimer);
    addrTimer = setTimeout(() => reloadAddresses().catch(() => {}), 1500);
  };

  // ---- health -----------------------------------------------------------------------------
  let gauges = {};
  function showGauges() {
    const at = gauges.producer_last_message_at_ms;
    if (at) $("h-feed").textContent = `${age(Math.max(0, (Date.now() - at) / 1000))} ago`;
    if (gauges.producer_reconnects_total != null) $("h-reconnects").textContent = satFmt.format(gauges.producer_reconnects_total);
    else $("h-reconnects").textContent = "0";
  }
  async function loadHealth() {
    const h = await getJson("/health");
    const pill = $("health-status");
    pill.textContent = h.status;
    pill.className = `pill ${h.status === "ok" ? "ok" : "bad"}`;
    pill.title = (h.reasons || []).join("; ");
    $("h-newest").textContent = h.newest_transaction.age_seconds == null ? "none" : `${age(h.newest_transaction.age_seconds)} ago`;
    if (!gauges.producer_last_message_at_ms) $("h-feed").textContent = h.producer_last_message_age_seconds == null ? "never" : `${age(h.producer_last_message_age_seconds)} ago`;
    $("h-redis").textContent = h.redis.ok ? `${h.redis.latency_ms.toFixed(1)} ms` : "down";
    // Catching up: a projection being rebuilt from the log, with the records it has left.
    const replaying = (h.projections || []).filter((p) => p.state === "catching_up");
    const left = replaying.reduce((sum, p) => sum + p.records_to_replay, 0);
    $("catching-up").hidden = replaying.length === 0;
    $("catching-up").textContent = `catching up: ${satFmt.format(left)} records left`;
    $("catching-up").title = replaying.map((p) => `${p.role}: ${satFmt.format(p.records_to_replay)}`).join("; ");
    // Group state as /health judges it: ok, catching up (records to go), no member, stalled.
    const states = new Map((h.groups || []).map((g) => [g.group, g]));
    const stateText = (g) => {
      if (!g) return "–";
      if (g.state === "catching_up") return `catching up, ${satFmt.format(g.records_to_replay)} to go`;
      if (g.state === "no_member") return "no member";
      if (g.state === "stalled") return `stalled ${Math.round(g.unmoved_seconds || 0)} s`;
      if (g.state === "error") return "cannot apply";
      return g.state;
    };
    $("lag").tBodies[0].replaceChildren(
      ...h.kafka.groups.map((g) => {
        const s = states.get(g.group);
        // Why, per partition (a stalled one, or its error naming the key), as /health says it.
        const why = (h.reasons || []).filter((r) => r.startsWith(`group ${g.group} `)).join("; ");
        const bad = s && (s.state === "no_member" || s.state === "stalled" || s.state === "error");
        return el(
          "tr",
          { "data-role": g.role, "data-state": s ? s.state : "" },
          el("td", { text: g.role, title: g.group }),
          el("td", { class: bad ? "warn" : s && s.state === "catching_up" ? "muted" : "", text: stateText(s), title: why }),
          el("td", { class: `r num${g.lag > 1000 ? " warn" : ""}`, text: g.lag == null ? "–" : satFmt.format(g.lag) }),
        );
      }),
    );
    const sup = h.supervisor;
    if (sup) {
      const roles = Object.entries(sup.per_role || {})
        .map(([name, n]) => `${name} ${n}`)
        .join(", ");
      const last = sup.last && typeof sup.last === "object" ? JSON.stringify(sup.last) : sup.last ? String(sup.last) : "";
      $("h-restarts").textContent = satFmt.format(sup.restarts_total);
      $("h-restarts").title = [roles, last && `last: ${last}`].filter(Boolean).join("; ");
      $("h-restarts").className = `num${sup.restarts_total > 0 ? " warn" : ""}`;
    }
    showGauges();
    arrived("health");
  }
  const reloadHealth = () => tracked("health", loadHealth);

  // ---- state: load and live updates --------------------------------------------------------
  /** Every panel, each on its own: one that fails is marked, the others show. Throws the first failure. */
  async function loadAll() {
    await settle([reloadCounts(), reloadTransactions(true), reloadAddresses(), reloadHealth(), reloadFees()]);
  }
  async function settle(loads) {
    const failures = (await Promise.allSettled(loads)).filter((r) => r.status === "rejected");
    if (failures.length) throw failures[0].reason;
  }
  const reloadCounts = () =>
    tracked("counts", async () => {
      const perMinute = await getJson("/transactions_count_per_minute/0");
      if (!Array.isArray(perMinute.minutes)) throw new Error(perMinute.message || perMinute.error || "no minutes");
      for (const m of perMinute.minutes) minutes.set(Date.parse(m.start), { count: m.count, value: m.value });
      const open = perMinute.minutes.filter((m) => m.complete === false).length;
      flag("counts-flag", perMinute, `${open} of ${perMinute.minutes.length} minutes may miss transactions`);
      drawChart();
      arrived("counts");
    });
  /** The latest transactions: in place of the rows (`replace`), or merged into them (the stream keeps them live between reads). */
  const reloadTransactions = (replace) =>
    tracked("transactions", async () => {
      const latest = await getJson(`/show_transactions/?limit=${TX_ROWS}`);
      if (!Array.isArray(latest.transactions)) throw new Error(latest.message || latest.error || "no transactions");
      if (replace) showTransactions(latest.transactions);
      else for (const tx of latest.transactions) addTransaction(tx, false);
      flag("tx-flag", latest, "the list may miss transactions");
      arrived("transactions");
    });
  /** Every 10 s: the figures and their flags again (the live events carry figures, not their completeness). */
  const loadFlags = () => settle([reloadCounts(), reloadTransactions(false), reloadAddresses(), reloadFees()]);

  let lastSeq = null;
  let hellos = 0;
  let refetching = false;
  async function refetch(why) {
    if (refetching) return;
    refetching = true;
    $("tx-note").textContent = why;
    try {
      await loadAll();
    } finally {
      refetching = false;
    }
  }
  function live(on, text) {
    $("live-dot").className = `dot ${on ? "live" : "down"}`;
    $("live-text").textContent = text;
  }
  /**
   * A tx event: its id is the transaction's number (1, 2, … in the order stored). One already
   * seen is skipped; a jump means transactions were missed (the server says so with `missed`
   * first, this is a guard).
   */
  function sequenced(e) {
    const id = Number(e.lastEventId);
    if (lastSeq !== null && id <= lastSeq) return false;
    if (lastSeq !== null && id !== lastSeq + 1) refetch(`refetched after a gap (${lastSeq} → ${id})`).catch(() => {});
    lastSeq = id;
    document.body.dataset.seq = String(id);
    return true;
  }
  function connect() {
    const es = new EventSource("/stream");
    es.addEventListener("hello", (e) => {
      const data = JSON.parse(e.data);
      // The first: transactions after the hello's seq come live. A reconnect: the server resumes
      // after the last id this page saw (Last-Event-ID), so lastSeq stays.
      if (lastSeq === null) lastSeq = data.seq;
      if (data.metrics) {
        gauges = data.metrics;
        showGauges();
      }
      live(true, "live");
      stream = "open";
      showAges();
      // A reconnect resumes the transactions (EventSource sends Last-Event-ID), not the minutes and gauges.
      if (hellos++ > 0) refetch("refetched after a reconnect").catch(() => {});
    });
    es.addEventListener("tx", (e) => {
      if (!sequenced(e)) return;
      addTransaction(JSON.parse(e.data));
      arrived("transactions");
      addressesSoon();
    });
    // Transactions the server no longer holds for this page (it fell behind), or a numbering
    // that started again (Redis lost its data): the JSON endpoints tell what the stream cannot.
    es.addEventListener("missed", (e) => {
      const { missed } = JSON.parse(e.data);
      lastSeq = Number(e.lastEventId);
      refetch(`refetched after missing ${missed} transactions`).catch(() => {});
    });
    es.addEventListener("reset", (e) => {
      lastSeq = Number(e.lastEventId);
      refetch("refetched: the stream started again").catch(() => {});
    });
    es.addEventListener("minute", (e) => {
      const m = JSON.parse(e.data);
      minutes.set(Date.parse(m.start), { count: m.count, value: m.value });
      if (chart) chart.setData(chartData());
      arrived("counts");
    });
    es.addEventListener("health", (e) => {
      gauges = JSON.parse(e.data).metrics;
      showGauges();
    });
    // Reconnecting (EventSource retries by itself), or closed: a refused stream (429, 503) is not retried.
    es.onerror = () => {
      stream = es.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
      live(false, stream === "closed" ? "live updates off" : "reconnecting…");
      showAges();
    };
  }

  // A panel that could not load says so itself (its age line), and is read again every 10 s.
  loadAll()
    .catch(() => {})
    .finally(() => {
      document.body.dataset.ready = "1";
      connect();
    });
  feesEveryMinute();
  const refresh = () => {
    reloadHealth().catch(() => {});
    loadFlags().catch(() => {});
  };
  setInterval(refresh, REFRESH_MS);
  setInterval(() => {
    if (chart) chart.setData(chartData());
    showGauges();
  }, 15_000);
  setInterval(showAges, 1000);
  // A tab that slept (timers held back while hidden): its stale panels at once, not on the next turn.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    showAges();
    if (Object.values(received).some((r) => r.at === null || Date.now() - r.at > REFRESH_MS)) refresh();
  });
})();
