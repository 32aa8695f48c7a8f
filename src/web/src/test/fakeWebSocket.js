// A WebSocket stand-in for the socket module's tests: records every socket
// made and lets a test play the server.
export function makeFakeWebSocket() {
  const sockets = [];

  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;

    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.listeners = { open: [], message: [], close: [], error: [] };
      this.closedWith = null;
      this.sent = [];
      sockets.push(this);
    }

    addEventListener(type, fn) {
      this.listeners[type].push(fn);
    }

    removeEventListener(type, fn) {
      this.listeners[type] = this.listeners[type].filter((other) => other !== fn);
    }

    listenerCount() {
      return Object.values(this.listeners).reduce((n, list) => n + list.length, 0);
    }

    emit(type, event) {
      for (const fn of [...this.listeners[type]]) fn(event);
    }

    // ---- the server's side ----
    serverOpen() {
      this.readyState = 1;
      this.emit('open', {});
    }

    serverSend(event, data) {
      this.emit('message', { data: JSON.stringify({ event, data }) });
    }

    serverSendRaw(data) {
      this.emit('message', { data });
    }

    serverClose(code = 1006, reason = '') {
      this.readyState = 3;
      this.emit('close', { code, reason, wasClean: code !== 1006 });
    }

    // ---- the client's side ----
    close(code = 1000, reason = '') {
      this.closedWith = { code, reason };
      this.readyState = 3;
      // Like a browser: the close event comes later, asynchronously.
      queueMicrotask(() => this.emit('close', { code, reason, wasClean: true }));
    }

    send(text) {
      this.sent.push(text);
    }
  }

  return { FakeWebSocket, sockets };
}
