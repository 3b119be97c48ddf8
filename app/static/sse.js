// Server-sent events read from fetch(), so a stream can be a POST (a JSON body, an upload)
// and be stopped with an AbortController. eventsource-parser does the SSE framing.
import { EventSourceParserStream } from "./vendor/eventsource-parser/stream.js";

/** The bearer key typed into the page, kept for the tab (sessionStorage), sent with every request. */
export function authHeaders() {
  const key = document.getElementById("api-key").value;
  return key ? { Authorization: "Bearer " + key } : {};
}

/** A 4xx/5xx answer before any event: `message` is the server's `detail`, said plainly. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function detailOf(body) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
  if (detail && detail.message) return detail.message;
  return "";
}

/**
 * POST (or GET) an SSE route and yield each event's JSON payload (each has a `type`).
 * Throws HttpError when the server refuses the request, and lets an AbortError through
 * when `signal` is aborted, which closes the connection: the server sees the disconnect.
 * `onId` gets each event's id (`<stream>-<n>` on /rag/sse), to cancel or resume it.
 */
export async function* streamEvents(
  url, { method = "POST", body, json, headers = {}, signal, onId } = {},
) {
  const init = {
    method, headers: { Accept: "text/event-stream", ...authHeaders(), ...headers }, signal,
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(url, init);
  if (!response.ok) {
    const parsed = await response.json().catch(() => null);
    throw new HttpError(response.status, detailOf(parsed) || `the server answered ${response.status}`);
  }
  const events = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    if (event.id && onId) onId(event.id);
    if (event.data) yield JSON.parse(event.data);
  }
}

/** The stream an event id `<stream>-<n>` belongs to, or null for a plain number. */
export function streamOf(eventId) {
  const cut = eventId ? eventId.lastIndexOf("-") : -1;
  return cut > 0 ? eventId.slice(0, cut) : null;
}

const RESUME_ATTEMPTS = 3;

/**
 * One answer from `POST /rag/sse`, resumed after a dropped connection: when the stream
 * breaks before its `done` or `error`, `GET /rag/sse` with `Last-Event-ID` continues it
 * from the last event received (up to three tries, `onResume` told of each). `onStream`
 * gets the stream's id, so Stop can cancel it (`DELETE /rag/sse/<stream>`).
 */
export async function* answerEvents(body, { signal, onStream, onResume } = {}) {
  let lastId = null;
  const onId = (id) => {
    if (lastId === null && onStream) onStream(streamOf(id));
    lastId = id;
  };
  let events = streamEvents("/rag/sse", { json: body, signal, onId });
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const event of events) {
        yield event;
        if (event.type === "done" || event.type === "error") return;
      }
    } catch (error) {
      if (error.name === "AbortError" || error instanceof HttpError) throw error;
    }
    if (!streamOf(lastId) || attempt > RESUME_ATTEMPTS) return; // the caller reports the loss
    if (onResume) onResume(attempt);
    await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    const headers = { "Last-Event-ID": lastId };
    events = streamEvents("/rag/sse", { method: "GET", headers, signal, onId });
  }
}

/** Tell the server an answer is no longer wanted, so it stops now, not after the grace. */
export function cancelStream(streamId) {
  if (!streamId) return;
  fetch(`/rag/sse/${streamId}`, { method: "DELETE", headers: authHeaders() }).catch(() => {});
}
