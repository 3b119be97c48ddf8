// Server-sent events read from fetch(), so a stream can be a POST (a JSON body, an upload)
// and be stopped with an AbortController. eventsource-parser does the SSE framing.
import { EventSourceParserStream } from "./vendor/eventsource-parser/stream.js";

/** The bearer key typed into the page (sent when the server sets RAG_API_KEY). */
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
 * POST to an SSE route and yield each event's JSON payload (each has a `type`).
 * Throws HttpError when the server refuses the request, and lets an AbortError through
 * when `signal` is aborted, which closes the connection: the server sees the disconnect.
 */
export async function* streamEvents(url, { body, json, headers = {}, signal } = {}) {
  const init = {
    method: "POST", headers: { Accept: "text/event-stream", ...authHeaders(), ...headers }, signal,
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else {
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
    if (event.data) yield JSON.parse(event.data);
  }
}
