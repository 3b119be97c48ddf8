// The upload area: files dropped or picked go to `POST /index/files/sse` in one request,
// and each file's row follows its ingestion stages live, until `ready` or its error.
// The files go to the knowledge base `kb()` names; `onDone` hears when a batch has ended.
import { streamEvents } from "./sse.js";

const STAGES = ["received", "chunked", "embedding", "embedded", "indexing", "ready"];

function row(file) {
  const item = document.createElement("li");
  item.className = "upload";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = STAGES.length;
  bar.value = 0;
  bar.setAttribute("aria-label", `${file.name} ingestion progress`);
  const stage = document.createElement("span");
  stage.className = "stage";
  stage.textContent = "waiting";
  item.append(name, bar, stage);
  return item;
}

export class UploadArea {
  constructor({ zone, input, list, keyBox, kb, onDone }) {
    this.list = list;
    this.keyBox = keyBox;
    this.kb = kb;
    this.onDone = onDone;
    input.addEventListener("change", () => {
      this.upload([...input.files]);
      input.value = "";
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.upload([...event.dataTransfer.files]);
    });
  }

  async upload(files) {
    if (!files.length) return;
    const rows = files.map(row);
    this.list.prepend(...rows);
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const set = (index, text, value, state) => {
      const item = rows[index];
      item.querySelector(".stage").textContent = text;
      if (value !== undefined) item.querySelector("progress").value = value;
      if (state) item.dataset.state = state;
    };
    let ended = false;
    try {
      const url = "/index/files/sse" + (this.kb() ? `?kb=${encodeURIComponent(this.kb())}` : "");
      for await (const event of streamEvents(url, { body: form })) {
        if (event.type === "doc_stage") {
          const chunks = event.num_chunks_indexed ?? event.num_chunks;
          const detail = event.stage === "ready" ? `ready · ${chunks} chunk(s)` : event.stage;
          set(event.index, detail, STAGES.indexOf(event.stage) + 1,
              event.stage === "ready" ? "ready" : "working");
        } else if (event.type === "doc_error") {
          set(event.index, "failed: " + event.error, undefined, "failed");
        } else if (event.type === "pipeline_done" || event.type === "error") {
          ended = true;
          if (event.type === "error") this.failRest(rows, event.message);
        }
      }
      if (!ended) this.failRest(rows, "connection lost");
    } catch (error) {
      if (error.status === 401) this.keyBox.open = true;
      this.failRest(rows, error.message);
    }
    this.onDone();
  }

  failRest(rows, message) {
    for (const item of rows) {
      if (item.dataset.state === "ready" || item.dataset.state === "failed") continue;
      item.dataset.state = "failed";
      item.querySelector(".stage").textContent = "failed: " + message;
    }
  }
}
