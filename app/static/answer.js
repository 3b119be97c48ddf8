// The answer as it streams: Markdown rendered safely, each citation key a link to its
// source card once the server has judged it, an invalid key flagged where it was written.
import { renderMarkdown } from "./markdown.js";

// The server's tracker (chains/citations.py) reads keys inside brackets, in the variants
// a model writes ([Doc-1], [doc 001], 【doc-001】); this finds the same ones.
const BRACKET = /[[【]([^\]】]{1,80})[\]】]/g;
const KEY = /doc[-_ ]?0*(\d{1,4})/gi;

/** The server's key for source number `n` (chains/events.py CITE_KEY_FORMAT). */
export const citeKey = (n) => "doc-" + String(n).padStart(3, "0");

export class AnswerView {
  constructor(element, { onCitationClick, idPrefix = "" }) {
    this.element = element;
    this.onCitationClick = onCitationClick;
    this.idPrefix = idPrefix; // the source cards' (sources.js), so links find this turn's
    this.reset();
  }

  /** Show a finished answer at once: an earlier turn of the conversation. */
  show(text, verdicts) {
    this.text = text;
    this.verdicts = new Map(verdicts);
    this.render();
  }

  reset() {
    this.text = "";
    this.verdicts = new Map(); // cite -> valid, from the server's `citation` events
    this.element.replaceChildren();
  }

  append(delta) {
    this.text += delta;
    this.scheduleRender();
  }

  judge(citation) {
    this.verdicts.set(citation.cite, citation.valid);
    this.scheduleRender();
  }

  /** Render at most once per frame: a fast model sends many tokens per frame. */
  scheduleRender() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  render() {
    this.element.innerHTML = renderMarkdown(this.text);
    this.linkCitations();
  }

  linkCitations() {
    const walker = document.createTreeWalker(this.element, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) =>
        node.parentElement.closest("code, pre") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
    });
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const parts = this.splitKeys(node.data);
      if (parts.length > 1) node.replaceWith(...parts);
    }
  }

  /** `text` as a list of strings and citation elements, for keys the server has judged. */
  splitKeys(text) {
    const parts = [];
    let last = 0;
    for (const bracket of text.matchAll(BRACKET)) {
      const inner = bracket[1];
      const start = bracket.index + 1;
      for (const key of inner.matchAll(KEY)) {
        const cite = citeKey(Number(key[1]));
        if (!this.verdicts.has(cite)) continue; // its `citation` event is on the way
        parts.push(text.slice(last, start + key.index));
        parts.push(this.citationElement(key[0], cite, this.verdicts.get(cite)));
        last = start + key.index + key[0].length;
      }
    }
    parts.push(text.slice(last));
    return parts.filter((p) => p !== "");
  }

  citationElement(written, cite, valid) {
    if (!valid) {
      const mark = document.createElement("mark");
      mark.className = "cite-invalid";
      mark.dataset.cite = cite;
      mark.title = `${cite} was not among the sources`;
      mark.textContent = written;
      const note = document.createElement("span");
      note.className = "visually-hidden";
      note.textContent = " (not among the sources)";
      mark.append(note);
      return mark;
    }
    const link = document.createElement("a");
    link.className = "cite-link";
    link.href = `#${this.idPrefix}src-${cite}`;
    link.dataset.cite = cite;
    link.textContent = written;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      this.onCitationClick(cite);
    });
    return link;
  }
}
