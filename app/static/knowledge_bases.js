// The knowledge-base selector: filled from `GET /kbs` (the default first), which lists
// only what the page's key may read, each with what it may do there (`access`).
// Questions, uploads, summaries and the Documents panel all use the one it shows;
// choosing another starts a new conversation, since the earlier answers came from
// other documents.
import { authHeaders } from "./sse.js";

export class KbSelector {
  constructor(select, { onChange }) {
    this.select = select;
    select.addEventListener("change", () => onChange(this.current()));
  }

  /** The chosen knowledge base's name, or "" for the default one. */
  current() {
    const option = this.select.selectedOptions[0];
    return option && option.dataset.default !== "true" ? option.value : "";
  }

  /** What the key may do with the chosen knowledge base: "read", "write". */
  access() {
    const option = this.select.selectedOptions[0];
    return option && option.dataset.access ? option.dataset.access.split(" ") : [];
  }

  /** Fill the list; false when the server wants a key it was not given (401). */
  async load() {
    const response = await fetch("/kbs", { headers: authHeaders() });
    if (!response.ok) {
      if (response.status === 401) this.select.replaceChildren();
      return response.status !== 401;
    }
    const { kbs } = await response.json();
    const chosen = this.select.value;
    this.select.replaceChildren(...kbs.map((kb) => {
      const option = new Option(`${kb.name}${kb.default ? " (default)" : ""}`, kb.name);
      option.dataset.default = String(kb.default);
      option.dataset.access = kb.access.join(" ");
      return option;
    }));
    if (kbs.some((kb) => kb.name === chosen)) this.select.value = chosen;
    return true;
  }
}
