// The chat page: one `POST /rag/sse` per question. Sources first, then the answer token
// by token; a dropped connection resumes where it broke (Last-Event-ID). Stop (or Escape)
// aborts the fetch and cancels the answer at the server, which stops the model request.
// Finished turns stay on screen above (thread.js) and go with a follow-up as its
// `chat_history`; "New chat" forgets them.
// The knowledge-base selector picks what questions, uploads, summaries and the Documents
// panel use. The API key is kept for the tab (sessionStorage); the selector lists what
// it may read, and the upload area and Delete buttons show only where it may write.
// `document.body.dataset.stream` says where the stream is (running, done, stopped,
// failed), for people's styles and for the browser tests.
import { AnswerView } from "./answer.js";
import { DocumentsPanel } from "./documents.js";
import { KbSelector } from "./knowledge_bases.js";
import { HttpError, answerEvents, cancelStream } from "./sse.js";
import { SourceList } from "./sources.js";
import { SummaryPanel } from "./summarize.js";
import { Thread } from "./thread.js";
import { UploadArea } from "./upload.js";

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "streaming-rag:api-key";
const kbs = new KbSelector($("kb"), {
  onChange: () => { newChat(); showAccess(); documents.refresh(); },
});
const documents = new DocumentsPanel($("documents-panel"), {
  kb: () => kbs.current(), onUnauthorized: () => { $("api-key-box").open = true; },
});
const summary = new SummaryPanel($("summary-panel"), { kb: () => kbs.current() });
const sources = new SourceList($("sources"), {
  onSummarize: (docId, title) => summary.summarize(docId, title),
});
const answer = new AnswerView($("answer"), { onCitationClick: (cite) => sources.highlight(cite) });
const thread = new Thread($("thread"), {
  onSummarize: (docId, title) => summary.summarize(docId, title),
});
new UploadArea({
  zone: $("drop-zone"), input: $("files"), list: $("uploads"), keyBox: $("api-key-box"),
  kb: () => kbs.current(), onDone: () => documents.refresh(),
});

let controller = null;
let streamId = null;
let lastQuestion = "";

function setState(state) {
  document.body.dataset.stream = state;
  const running = state === "running";
  $("send").disabled = running;
  $("stop").disabled = !running;
}

function footer({ ttfs, ttft, rate, total } = {}) {
  const ms = (value) => (value == null ? "–" : `${Math.round(value)} ms`);
  $("metric-ttfs").textContent = ms(ttfs);
  $("metric-ttft").textContent = ms(ttft);
  $("metric-rate").textContent = rate == null ? "–" : `${rate.toFixed(1)} tok/s`;
  $("metric-total").textContent = ms(total);
}

function showError(message) {
  $("error-message").textContent = message;
  $("error").hidden = false;
  $("status").textContent = "";
  setState("failed");
}

async function ask(question) {
  stop();
  controller = new AbortController();
  streamId = null;
  lastQuestion = question;
  thread.showLatest(); // the turn just answered joins the earlier ones
  sources.clear();
  answer.reset();
  $("asked").textContent = question;
  $("asked").hidden = false;
  $("error").hidden = true;
  $("revised").hidden = true;
  footer();
  setState("running");
  const started = performance.now();
  const live = {};
  const body = { question };
  const history = thread.history();
  if (history.length) body.chat_history = history;
  if ($("progressive").checked) body.progressive = true;
  if (kbs.current()) body.kb = kbs.current();
  const turn = { question, sources: [] };
  let ended = false;
  try {
    const options = {
      signal: controller.signal,
      onStream: (id) => { streamId = id; },
      onResume: (attempt) => {
        $("status").textContent = `Connection lost; resuming (try ${attempt})...`;
      },
    };
    for await (const event of answerEvents(body, options)) {
      switch (event.type) {
        case "status":
          $("status").textContent = event.message;
          break;
        case "source":
          if (live.ttfs == null) {
            live.ttfs = performance.now() - started;
            footer(live);
          }
          sources.add(event);
          turn.sources.push(event);
          break;
        case "context_update":
          for (const source of event.sources) {
            sources.add(source, event.wave);
            turn.sources.push({ ...source, wave: event.wave });
          }
          $("status").textContent = `Wave ${event.wave} of ${event.total_waves}: ` +
            `${event.sources.length} new source(s)` +
            (event.query ? ` for “${event.query}”` : "");
          break;
        case "ttft":
          live.ttft = event.ms;
          footer(live);
          break;
        case "token":
          answer.append(event.content);
          live.tokens = (live.tokens || 0) + 1;
          live.firstTokenAt ??= performance.now();
          if (live.tokens > 1) {
            live.rate = (live.tokens - 1) / ((performance.now() - live.firstTokenAt) / 1000);
            footer(live);
          }
          break;
        case "citation":
          answer.judge(event);
          if (event.valid) sources.markCited(event.cite);
          break;
        case "grounding":
          answer.ground(event);
          break;
        case "revise":
          answer.reset();
          sources.unmarkCited();
          $("revised-reason").textContent = event.reason;
          $("revised").hidden = false;
          break;
        case "done": {
          ended = true;
          // A decline ("not in the knowledge base") has no tokens: its answer is only here.
          if (!answer.text && event.answer) answer.show(event.answer, []);
          const m = event.metrics;
          footer({ ttfs: m.ttfs_ms, ttft: m.ttft_ms, rate: m.tokens_per_sec, total: m.total_ms });
          const g = event.grounding;
          $("status").textContent = `${m.token_count} tokens` + (g && g.sentences
            ? `; ${g.supported} of ${g.sentences} sentences supported by the sources` : "");
          thread.add({ ...turn, answer: event.answer, verdicts: [...answer.verdicts], doubts: answer.doubts });
          setState("done");
          break;
        }
        case "error":
          ended = true;
          showError(event.message + (event.retryable ? "" : " (retrying will not help)"));
          break;
      }
    }
    if (!ended) showError("The connection was lost before the answer ended.");
  } catch (error) {
    if (error.name === "AbortError") {
      $("status").textContent = "Stopped.";
      setState("stopped");
    } else {
      if (error.status === 401) $("api-key-box").open = true;
      showError(error instanceof HttpError ? error.message : "The server could not be reached.");
    }
  }
}

function stop() {
  if (!controller || document.body.dataset.stream !== "running") return;
  controller.abort();
  cancelStream(streamId);
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (question) ask(question);
});
$("api-key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  newChat();
  loadKnowledgeBases();
});

/** Show the upload area and Delete buttons only where the key may write. */
function showAccess() {
  const canWrite = kbs.access().includes("write");
  $("drop-zone").hidden = !canWrite;
  $("upload-note").hidden = canWrite;
  documents.canWrite = canWrite;
}

async function loadKnowledgeBases() {
  if (!(await kbs.load())) $("api-key-box").open = true;
  showAccess();
  await documents.refresh();
}
$("stop").addEventListener("click", stop);
function newChat() {
  stop();
  thread.clear();
  sources.clear();
  answer.reset();
  $("asked").hidden = true;
  $("revised").hidden = true;
  $("error").hidden = true;
  $("status").textContent = "New conversation.";
  footer();
  $("question").focus();
}

$("new-chat").addEventListener("click", newChat);
$("retry").addEventListener("click", () => ask(lastQuestion));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") stop();
});
setState("idle");
$("api-key").value = sessionStorage.getItem(KEY_STORAGE) || "";
loadKnowledgeBases();
