// socket: one WebSocket to the sidecar, reconnected with backoff. Every connection has a
// generation number so that answers never go to a newer connection than their patches.

const socket = {
  ws: null,
  generation: 0,
  backoffMs: env.backoffMinMs,
  retryTimer: null,
  onText: null,
  onBinary: null,

  connect() {
    const ws = new WebSocket(env.socketUrl());
    const generation = ++this.generation;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (event) =>
      typeof event.data === 'string' ? this.onText(event.data, generation) : this.onBinary(event.data, generation);
    ws.onclose = () => {
      state.connected = false;
      this.ws = null;
      this.retry();
    };
    this.ws = ws;
  },

  // The server said welcome: the connection is good, start over with short retries.
  welcomed() {
    state.connected = true;
    state.connections += 1;
    this.backoffMs = env.backoffMinMs;
  },

  retry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, env.backoffMaxMs);
  },

  send(message, generation) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && generation === this.generation) {
      this.ws.send(JSON.stringify(message));
    }
  },

  stop() {
    clearTimeout(this.retryTimer);
    if (!this.ws) return;
    this.ws.onmessage = this.ws.onclose = null;
    this.ws.close();
    this.ws = null;
    state.connected = false;
  },
};
