// Source cards: one per retrieved chunk, shown as its `source` (or `context_update`)
// event arrives. Document text only ever goes in through textContent. Each turn of a
// conversation has its own list; `idPrefix` keeps card ids unique on the page ("" for
// the turn being answered, so its first card is #src-doc-001; "t1-" for the first turn).

const SNIPPET_CHARS = 220;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class SourceList {
  constructor(element, { onSummarize, idPrefix = "" }) {
    this.element = element;
    this.onSummarize = onSummarize;
    this.idPrefix = idPrefix;
  }

  clear() {
    this.element.replaceChildren();
  }

  get count() {
    return this.element.children.length;
  }

  card(cite) {
    return document.getElementById(`${this.idPrefix}src-${cite}`);
  }

  add(source, wave = 1) {
    const card = el("li", "source");
    card.id = `${this.idPrefix}src-${source.cite}`;
    card.tabIndex = -1; // focusable from a citation link, not in the tab order
    card.dataset.wave = String(wave);
    const title = source.metadata.title || source.metadata.source || source.doc_id || source.id;
    const head = el("div", "source-head");
    head.append(el("span", "cite", `[${source.cite}]`), el("span", "title", title),
                el("span", "score", source.score.toFixed(2)));
    if (wave > 1) head.append(el("span", "wave", `wave ${wave}`));
    const snippet = source.content.length > SNIPPET_CHARS
      ? source.content.slice(0, SNIPPET_CHARS).trimEnd() + "…" : source.content;
    const preview = el("p", "snippet", snippet);
    const full = el("p", "full", source.content);
    full.id = `${this.idPrefix}full-${source.cite}`;
    full.hidden = true;
    const actions = el("div", "actions");
    const expand = el("button", "expand", "Show full chunk");
    expand.type = "button";
    expand.setAttribute("aria-expanded", "false");
    expand.setAttribute("aria-controls", full.id);
    expand.addEventListener("click", (event) => {
      event.stopPropagation();
      this.toggle(card);
    });
    actions.append(expand);
    if (source.doc_id) {
      const summarize = el("button", "summarize", "Summarize");
      summarize.type = "button";
      summarize.setAttribute("aria-label", `Summarize ${title}`);
      summarize.addEventListener("click", (event) => {
        event.stopPropagation();
        this.onSummarize(source.doc_id, title);
      });
      actions.append(summarize);
    }
    card.append(head, preview, full, actions);
    card.addEventListener("click", () => this.toggle(card)); // the whole card expands too
    this.element.append(card);
  }

  toggle(card) {
    const full = card.querySelector(".full");
    const open = full.hidden;
    full.hidden = !open;
    card.querySelector(".snippet").hidden = open;
    const button = card.querySelector(".expand");
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Show less" : "Show full chunk";
  }

  markCited(cite) {
    const card = this.card(cite);
    if (card) card.classList.add("cited");
  }

  unmarkCited() {
    for (const card of this.element.querySelectorAll(".cited")) card.classList.remove("cited");
  }

  /** Scroll to a card and flash it: what clicking a citation link does. */
  highlight(cite) {
    const card = this.card(cite);
    if (!card) return;
    for (const other of this.element.querySelectorAll(".highlight")) other.classList.remove("highlight");
    card.classList.add("highlight");
    card.scrollIntoView({ behavior: "smooth", block: "center" });
    card.focus({ preventScroll: true });
  }
}
