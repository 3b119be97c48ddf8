// The summary panel: `POST /summarize/sse` for one indexed document, its parts' progress,
// then the final summary token by token. A new summary (or Close) stops the one running.
import { renderMarkdown } from "./markdown.js";
import { streamEvents } from "./sse.js";

export class SummaryPanel {
  /** `kb()` names the knowledge base the documents are summarized from. */
  constructor(panel, { kb }) {
    this.panel = panel;
    this.kb = kb;
    this.title = panel.querySelector("#summary-title");
    this.progress = panel.querySelector("#summary-progress");
    this.status = panel.querySelector("#summary-status");
    this.text = panel.querySelector("#summary-text");
    panel.querySelector("#summary-close").addEventListener("click", () => this.close());
    this.controller = null;
  }

  close() {
    if (this.controller) this.controller.abort();
    this.panel.hidden = true;
  }

  async summarize(docId, title) {
    if (this.controller) this.controller.abort();
    const controller = (this.controller = new AbortController());
    this.panel.hidden = false;
    this.title.textContent = `Summary of ${title}`;
    this.progress.value = 0;
    this.text.replaceChildren();
    this.status.textContent = "Reading the document…";
    this.panel.scrollIntoView({ behavior: "smooth", block: "nearest" });
    let written = "";
    try {
      for await (const event of streamEvents("/summarize/sse", {
        json: { doc_id: docId, kb: this.kb() }, signal: controller.signal,
      })) {
        if (event.type === "summary_start") {
          this.status.textContent = `Summarizing ${event.total_chunks} part(s) of ` +
            `${event.total_chars.toLocaleString()} characters…`;
        } else if (event.type === "summary_chunk") {
          this.progress.value = event.progress;
          this.status.textContent = `Parts summarized: ${event.progress}%`;
        } else if (event.type === "token") {
          written += event.content;
          this.text.textContent = written;
        } else if (event.type === "summary_done") {
          this.progress.value = 100;
          this.text.innerHTML = renderMarkdown(event.final_summary);
          const m = event.metrics;
          this.status.textContent = `Done in ${Math.round(m.total_ms)} ms · ${m.model_calls} model calls`;
        } else if (event.type === "error") {
          this.status.textContent = "Summary failed: " + event.message;
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") this.status.textContent = "Summary failed: " + error.message;
    }
  }
}
