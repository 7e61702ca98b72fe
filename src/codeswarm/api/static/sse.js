// Server-sent events over fetch(): EventSource cannot send the Authorization header.
"use strict";

const MAX_RETRY_MS = 10000;

// A minimal parser of the text/event-stream format (WHATWG HTML, "Server-sent events"): fields
// `data`, `id`, `retry`; comments ignored; an event is dispatched at a blank line.
export class SseParser {
  constructor(onEvent, onRetry) {
    this.onEvent = onEvent;
    this.onRetry = onRetry;
    this.buffer = "";
    this.data = [];
    this.id = null; // the id buffer
    this.lastId = null; // the id of the last frame ended (even one without data: a position)
    this.sawData = false;
    this.afterCR = false;
  }

  push(chunk) {
    // a \r ends a line at once; a \n right after it (maybe in the next chunk) is its pair
    if (this.afterCR && chunk.startsWith("\n")) chunk = chunk.slice(1);
    this.afterCR = false;
    this.buffer += chunk;
    let start = 0;
    const eol = /\r\n|\r|\n/g;
    for (let hit; (hit = eol.exec(this.buffer)); ) {
      this.line(this.buffer.slice(start, hit.index));
      start = eol.lastIndex;
      this.afterCR = hit[0] === "\r" && start === this.buffer.length;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === "") {
      this.lastId = this.id;
      if (this.sawData) this.onEvent(this.data.join("\n"), this.id);
      this.data = [];
      this.sawData = false;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.sawData = true;
    } else if (field === "id") {
      if (!value.includes("\0")) this.id = value;
    } else if (field === "retry") {
      if (/^\d+$/.test(value)) this.onRetry(Number(value));
    }
  }
}

export class EventStream {
  // Follows `url`, calling onEvent(event) per event; reconnects with Last-Event-ID.
  // headers(): the request's headers; onAuth(): the token was refused (the stream stops);
  // onReset(): the stream starts afresh, live from now (the last id no longer fits, or there
  // was none yet): what was missed must be read some other way.
  constructor(url, { headers, onEvent, onOpen, onState, onReset, onAuth }) {
    this.url = url;
    this.headers = headers;
    this.onAuth = onAuth;
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onReset = onReset;
    this.lastId = null;
    this.everOpened = false;
    this.retryMs = 1000;
    this.failures = 0;
    this.closed = false;
    this.controller = null;
    this.run();
  }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
  }

  async run() {
    while (!this.closed) {
      this.controller = new AbortController();
      let opened = false;
      try {
        const headers = { ...this.headers(), Accept: "text/event-stream" };
        if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
        const res = await fetch(this.url, {
          headers,
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (res.status === 401) {
          this.closed = true;
          this.onAuth();
          return;
        }
        if (res.status === 400 && this.lastId !== null) {
          // the id no longer fits the swarm (it was brought up again): start afresh
          this.lastId = null;
          this.onReset();
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
        opened = true;
        this.failures = 0;
        this.onState("live");
        this.onOpen();
        // connected again without a position: what happened meanwhile is not replayed, the
        // view must be read afresh
        if (this.everOpened && !headers["Last-Event-ID"]) this.onReset();
        this.everOpened = true;
        const parser = new SseParser(
          (data, id) => {
            if (id !== null) this.lastId = id;
            let event;
            try {
              event = JSON.parse(data);
            } catch {
              return;
            }
            this.onEvent(event);
          },
          (ms) => (this.retryMs = ms),
        );
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(decoder.decode(value, { stream: true }));
          if (parser.lastId !== null) this.lastId = parser.lastId;
        }
      } catch (err) {
        if (this.closed) return;
        if (!opened) this.failures += 1;
      }
      if (this.closed) return;
      this.onState("reconnecting");
      const wait = Math.min(this.retryMs * 2 ** Math.min(this.failures, 4), MAX_RETRY_MS);
      await new Promise((r) => setTimeout(r, opened ? this.retryMs : wait));
    }
  }
}
