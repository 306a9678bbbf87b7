// The hub's realtime protocol (docs/protocol.md) for the browser: JSON frames, the
// token as a `bearer.<token>` subprotocol, one reply per request, per-channel gap-free
// sequences with replay (`since`) after a reconnect, heartbeats, jittered backoff.

import { accessToken, freshToken } from "./api.js";

const CODEC = "pos.v1.json";
const NO_RECONNECT = new Set([4004, 1009, 4010]);

export class RequestFailed extends Error {
  constructor(code, message, fields = {}, data = null) {
    super(message);
    this.code = code;
    this.fields = fields;
    this.data = data;
  }
}

export class Hub {
  constructor() {
    this.ws = null;
    this.hello = null;
    this.nextId = 1;
    this.pending = new Map(); // request id → {resolve, reject}
    this.channels = new Map(); // name → {epoch, seq, handlers: Set, onResync}
    this.listeners = new Set(); // (state) => void: "online" | "offline"
    this.attempt = 0;
    this.closedForGood = false;
    this.timers = [];
    this.onSignedOut = () => {}; // the hub ended the session (4004)
  }

  onState(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  _state(state) {
    for (const listener of this.listeners) listener(state);
  }

  async connect() {
    this.closedForGood = false;
    const token = await accessToken();
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, [CODEC, `bearer.${token}`]);
      this.ws = ws;
      let greeted = false;
      ws.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        // The hello comes first, alone or (from an older hub) as the first frame of a
        // batch with what followed it: the rest of that batch is dispatched after it.
        const first = frame.type === "batch" ? frame.payload[0] : frame;
        if (!greeted && first?.type === "hello") {
          greeted = true;
          this.hello = first.payload;
          this.attempt = 0;
          this._afterHello();
          this._state("online");
          resolve(first.payload);
          if (frame.type === "batch") for (const inner of frame.payload.slice(1)) this._dispatch(inner);
          return;
        }
        this._dispatch(frame);
      };
      ws.onclose = (event) => {
        this._teardown(event.code);
        if (!greeted) reject(new Error(`connection closed (${event.code})`));
      };
      ws.onerror = () => {};
    });
  }

  close() {
    this.closedForGood = true;
    if (this.ws) this.ws.close(1000);
  }

  _afterHello() {
    const beat = Math.max(1, (this.hello.heartbeat_seconds || 15) * 1000);
    this.timers.push(setInterval(() => this.request("ping").catch(() => {}), beat));
    const renewIn = Math.max(5, (this.hello.token_expires_in || 900) - 60) * 1000;
    this.timers.push(setTimeout(() => this._renew(), renewIn));
    // Channels subscribed before a reconnect resume from their last event.
    for (const [name, state] of this.channels) this._subscribe(name, state, true);
  }

  async _renew() {
    try {
      const token = await freshToken();
      await this.request("auth", { token });
      this.timers.push(setTimeout(() => this._renew(), 14 * 60 * 1000));
    } catch {
      /* the hub closes with 4003; the reconnect takes a new token */
    }
  }

  _teardown(code) {
    for (const timer of this.timers) clearInterval(timer), clearTimeout(timer);
    this.timers = [];
    for (const { reject } of this.pending.values()) reject(new RequestFailed("disconnected", "connection lost"));
    this.pending.clear();
    this.ws = null;
    this._state("offline");
    if (this.closedForGood) return;
    if (code === 4004) {
      this.closedForGood = true;
      this.onSignedOut();
      return;
    }
    if (!NO_RECONNECT.has(code)) this._reconnectLater(code);
  }

  _reconnectLater(code) {
    const delay = Math.random() * Math.min(15000, 250 * 2 ** this.attempt++);
    setTimeout(async () => {
      if (this.closedForGood) return;
      try {
        if (code === 4003 || code === 4001) await freshToken();
      } catch {
        this._reconnectLater(code); // no network for the refresh either: try again later
        return;
      }
      this.connect().catch(() => {}); // a failed connect closes, and onclose tries again
    }, delay);
  }

  /** One request, one reply. `onOk(data)` runs the moment the reply is read, before
   * any frame after it in the same batch (a subscription's first events). */
  request(type, payload = {}, onOk = null) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RequestFailed("disconnected", "not connected"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onOk });
      this.ws.send(JSON.stringify({ type, id, payload }));
    });
  }

  /** Receive a channel's events: handler(type, payload). onResync() reloads a snapshot. */
  async subscribe(name, handler, onResync = () => {}) {
    let state = this.channels.get(name);
    if (!state) {
      state = { epoch: null, seq: 0, known: false, handlers: new Set(), onResync };
      this.channels.set(name, state);
    }
    state.handlers.add(handler);
    if (!state.known) await this._subscribe(name, state, false);
    return () => {
      state.handlers.delete(handler);
      if (state.handlers.size === 0) {
        this.channels.delete(name);
        this.request("unsubscribe", { channel: name }).catch(() => {});
      }
    };
  }

  async _subscribe(name, state, resume) {
    const payload = { channel: name };
    const since = resume && state.known;
    if (since) payload.since = { epoch: state.epoch, seq: state.seq };
    await this.request("subscribe", payload, (data) => {
      if (since) return; // the replay continues from where we were
      state.epoch = data.epoch;
      state.seq = data.seq;
      state.known = true;
    });
  }

  _dispatch(frame) {
    if (frame.type === "batch") {
      for (const inner of frame.payload) this._dispatch(inner);
      return;
    }
    if (frame.id !== undefined && (frame.type === "ok" || frame.type === "error")) {
      const waiting = this.pending.get(frame.id);
      if (!waiting) return;
      this.pending.delete(frame.id);
      const body = frame.payload || {};
      if (frame.type === "ok" && waiting.onOk) waiting.onOk(body.data || {});
      if (frame.type === "ok") waiting.resolve(body.data || {});
      else waiting.reject(new RequestFailed(body.code, body.message, body.fields, body.data));
      return;
    }
    if (frame.type === "resync") {
      const state = this.channels.get(frame.payload.channel);
      if (!state) return;
      state.epoch = frame.payload.epoch;
      state.seq = frame.payload.seq;
      guarded(state.onResync);
      return;
    }
    if (!frame.channel) return; // heartbeat, hello, own-channel subscription notices
    const state = this.channels.get(frame.channel);
    if (!state) return;
    if (state.epoch === frame.epoch && frame.seq <= state.seq) return; // a replayed duplicate
    const next = (state.epoch === frame.epoch && frame.seq === state.seq + 1)
      || (state.epoch === null && frame.seq === 1);
    if (!next) {
      // A gap: ask for the missed events once; frames until then are replayed anyway.
      if (!state.recovering) {
        state.recovering = true;
        this._subscribe(frame.channel, state, true)
          .catch(() => {})
          .finally(() => (state.recovering = false));
      }
      return;
    }
    state.epoch = frame.epoch;
    state.seq = frame.seq;
    for (const handler of state.handlers) guarded(() => handler(frame.type, frame.payload));
  }
}

// A view's handler that throws must not stop the frames after it (replies included).
function guarded(callback) {
  try {
    const result = callback();
    if (result && typeof result.catch === "function") result.catch((error) => console.error(error));
  } catch (error) {
    console.error(error);
  }
}

export const channels = {
  sales: (tenant, shop) => `tenant:${tenant}:shop:${shop}:sales`,
  carts: (tenant, shop) => `tenant:${tenant}:shop:${shop}:carts`,
  cart: (tenant, shop, cart) => `tenant:${tenant}:shop:${shop}:cart:${cart}`,
  tasks: (tenant, user) => `tenant:${tenant}:user:${user}:tasks`,
};
