// Live learning curves: the job's Server-Sent Events (/v1/jobs/:id/events, read with
// fetch so the API key goes in a header) carry every unit's losses and metrics per
// epoch while it trains; they are kept per unit and drawn next to the histories of
// the units that have finished.

/** Follows an SSE stream; onEvent(type, data) per event. Answers a function that stops it. */
export function followEvents(url, key, onEvent) {
  const ctrl = new AbortController();
  (async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' }, signal: ctrl.signal, cache: 'no-store' });
    if (!res.ok || !res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let at;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        let type = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) type = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (!data) continue;
        let parsed;
        try { parsed = JSON.parse(data); } catch { continue; }
        onEvent(type, parsed);
      }
    }
  })().catch(() => { /* aborted, or the stream broke: the page keeps polling */ });
  return () => ctrl.abort();
}

/** Per unit key: epoch -> logs, from progress events. Answers whether anything changed. */
export function addProgress(live, ev) {
  if (!ev || typeof ev.unit !== 'string' || !Number.isFinite(ev.epoch) || !ev.logs || typeof ev.logs !== 'object') return false;
  let unit = live.get(ev.unit);
  if (!unit) live.set(ev.unit, (unit = new Map()));
  const row = { epoch: ev.epoch };
  for (const [k, v] of Object.entries(ev.logs)) if (Number.isFinite(v)) row[k] = v;
  unit.set(ev.epoch, row);
  return true;
}

/** The history with the live epochs of units that have not finished yet (a finished unit's file wins). */
export function withLive(history, live) {
  if (!live || live.size === 0) return history;
  const units = [...(history?.units ?? [])];
  const known = new Set(units.map((u) => u.key));
  let final = history?.final;
  for (const [key, epochs] of live) {
    const list = [...epochs.values()].sort((a, b) => a.epoch - b.epoch);
    if (key === 'final') {
      if (!final) final = { key, kind: 'final', run: 0, repeat: 0, fold: 0, epochs: list };
      continue;
    }
    if (known.has(key)) continue;
    const m = /^r(\d+)-p(\d+)-f(\d+)$/.exec(key);
    if (!m) continue;
    units.push({ key, kind: 'eval', run: Number(m[1]), repeat: Number(m[2]), fold: Number(m[3]), epochs: list });
  }
  units.sort((a, b) => a.run - b.run || a.repeat - b.repeat || a.fold - b.fold);
  return { units, ...(final ? { final } : {}) };
}
