// The answer as it streams: Markdown rendered safely, each citation key a link to its
// source card once the server has judged it, an invalid key flagged where it was written,
// and each sentence the server's grounding check did not find in the sources marked, its
// closest source named on hover or focus.
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
  show(text, verdicts, doubts = []) {
    this.text = text;
    this.verdicts = new Map(verdicts);
    this.doubts = [...doubts];
    this.render();
  }

  reset() {
    this.text = "";
    this.verdicts = new Map(); // cite -> valid, from the server's `citation` events
    this.doubts = []; // the `grounding` events of sentences the sources do not back
    this.checked = 0;
    this.element.replaceChildren();
  }

  /** A `grounding` event: mark its sentence when no source, or not its cited one, backs it. */
  ground(check) {
    this.checked += 1;
    if (check.supported && check.citation_supported !== false) return;
    this.doubts.push(check);
    this.scheduleRender();
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
    for (const check of this.doubts) this.markDoubt(check);
    this.linkCitations();
  }

  /** Wrap the rendered text of one doubted sentence (found by its words) in a mark. */
  markDoubt(check) {
    const words = plain(this.text.slice(check.start, check.end));
    const nodes = textNodes(this.element);
    const flat = nodes.map((n) => n.data).join("");
    const at = flat.indexOf(words);
    if (!words || at < 0) return; // Markdown reshaped it beyond recognition: left unmarked
    const note = check.supported
      ? `Cites ${check.cited.join(", ")}, which does not support it; closest source: ${check.cite}`
      : `Not supported by the sources; closest: ${check.cite} (similarity ${check.score.toFixed(2)})`;
    let offset = 0;
    let first = true;
    for (const node of nodes) {
      const from = Math.max(at - offset, 0);
      const to = Math.min(at + words.length - offset, node.data.length);
      offset += node.data.length;
      if (to <= from) continue;
      const piece = node.splitText(from);
      piece.splitText(to - from);
      const mark = document.createElement("mark");
      mark.className = "unsupported";
      mark.dataset.note = note;
      mark.dataset.cite = check.cite;
      mark.title = note;
      piece.replaceWith(mark);
      mark.append(piece);
      if (first) {
        // One stop per sentence: focus shows the note, and a screen reader reads it as
        // the mark's description (kept out of the answer's own text, so a copy is clean).
        mark.tabIndex = 0;
        const said = document.createElement("span");
        said.id = `${this.idPrefix}doubt-${check.index}`;
        said.hidden = true;
        said.textContent = note;
        this.element.append(said);
        mark.setAttribute("aria-describedby", said.id);
        first = false;
      }
    }
  }

  linkCitations() {
    for (const node of textNodes(this.element)) {
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

/** The text nodes under `element`, in order, code left out (it holds no citation or claim). */
function textNodes(element) {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT, {
    acceptNode: (node) =>
      node.parentElement.closest("code, pre") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
  });
  const nodes = [];
  while (walker.nextNode()) nodes.push(walker.currentNode);
  return nodes;
}

/** A sentence as Markdown renders its words: list markers, emphasis and headings gone. */
function plain(sentence) {
  return sentence
    .replace(/^\s*(?:[-*+]|\d{1,3}[.)]|#{1,6})\s+/, "")
    .replace(/[*_`]+/g, "")
    .trim();
}
