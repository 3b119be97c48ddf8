// The Documents panel: what the selected knowledge base holds (`GET /documents`), searched
// by id or source, a page at a time; a document opens with its chunks
// (`GET /documents/{id}`), and Delete removes it after a confirmation
// (`DELETE /documents/{id}`), so the next answer cannot cite it.
import { HttpError, authHeaders } from "./sse.js";

const PAGE_SIZE = 20;

async function requestJson(url, init = {}) {
  const response = await fetch(url, { ...init, headers: { ...authHeaders(), ...init.headers } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    throw new HttpError(response.status, detail || `the server answered ${response.status}`);
  }
  return body;
}

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

/** `kb()` is the knowledge base to show; `onUnauthorized` opens the API key box. */
export class DocumentsPanel {
  constructor(panel, { kb, onUnauthorized }) {
    this.kb = kb;
    this.onUnauthorized = onUnauthorized;
    this.list = panel.querySelector("#doc-list");
    this.count = panel.querySelector("#doc-count");
    this.detail = panel.querySelector("#doc-detail");
    this.search = panel.querySelector("#doc-search");
    this.prev = panel.querySelector("#doc-prev");
    this.next = panel.querySelector("#doc-next");
    this.page = 1;
    this.canWrite = true;
    let typing = null;
    this.search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { this.page = 1; this.refresh(); }, 200);
    });
    this.prev.addEventListener("click", () => { this.page -= 1; this.refresh(); });
    this.next.addEventListener("click", () => { this.page += 1; this.refresh(); });
  }

  query(extra = {}) {
    const params = new URLSearchParams(extra);
    if (this.kb()) params.set("kb", this.kb());
    return params.toString();
  }

  async refresh() {
    const params = { q: this.search.value.trim(), page: this.page, page_size: PAGE_SIZE };
    let listing;
    try {
      listing = await requestJson(`/documents?${this.query(params)}`);
    } catch (error) {
      this.fail(error);
      return;
    }
    const first = (listing.page - 1) * listing.page_size;
    this.count.textContent = listing.documents.length
      ? `${first + 1} to ${first + listing.documents.length} of ${listing.total} document(s)`
      : `${listing.total} document(s)`;
    this.prev.disabled = listing.page <= 1;
    this.next.disabled = first + listing.documents.length >= listing.total;
    this.list.replaceChildren(...listing.documents.map((doc) => this.row(doc)));
  }

  row(doc) {
    const item = el("li", "doc");
    item.dataset.docId = doc.id;
    const name = el("span", "doc-name", doc.title || doc.source || doc.id);
    const facts = el("span", "doc-facts",
      `${doc.id} · ${doc.num_chunks} chunk(s) · ${doc.characters.toLocaleString()} characters`);
    const open = el("button", "doc-open", "Open");
    open.type = "button";
    open.setAttribute("aria-label", `Open ${doc.id}`);
    open.addEventListener("click", () => this.open(doc.id));
    item.append(name, facts, open);
    if (this.canWrite) {  // a key that may only read sees no Delete it would be refused
      const remove = el("button", "doc-delete", "Delete");
      remove.type = "button";
      remove.setAttribute("aria-label", `Delete ${doc.id}`);
      remove.addEventListener("click", () => this.remove(doc.id));
      item.append(remove);
    }
    return item;
  }

  async open(docId) {
    let doc;
    try {
      doc = await requestJson(`/documents/${encodeURIComponent(docId)}?${this.query()}`);
    } catch (error) {
      this.fail(error);
      return;
    }
    const chunks = el("ol", "doc-chunks");
    for (const chunk of doc.chunks) {
      const item = el("li", "doc-chunk");
      item.append(el("span", "chunk-id", `${chunk.id} at ${chunk.start_index ?? "?"}`),
                  el("p", "", chunk.text.trim()));
      chunks.append(item);
    }
    const heading = el("h3", "", doc.title || doc.id);
    const facts = el("p", "doc-facts",
      `${doc.num_chunks} chunk(s), ${doc.characters.toLocaleString()} characters, ` +
      `indexed ${doc.indexed_at ?? "before stamps were kept"}`);
    this.detail.replaceChildren(heading, facts, chunks);
    this.detail.dataset.docId = doc.id;
    this.detail.hidden = false;
  }

  async remove(docId) {
    if (!window.confirm(`Delete ${docId} and all its chunks? Answers will no longer find it.`)) {
      return;
    }
    try {
      await requestJson(`/documents/${encodeURIComponent(docId)}?${this.query()}`,
                        { method: "DELETE" });
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.detail.dataset.docId === docId) this.detail.hidden = true;
    this.count.textContent = `Deleted ${docId}.`;
    await this.refresh();
  }

  fail(error) {
    if (error.status === 401) this.onUnauthorized();
    this.count.textContent = "Documents: " + error.message;
  }
}
