// The knowledge-base selector: filled from `GET /kbs` (the default first). Questions,
// uploads, summaries and the Documents panel all use the one it shows; choosing
// another starts a new conversation, since the earlier answers came from other documents.
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

  async load() {
    const response = await fetch("/kbs", { headers: authHeaders() });
    if (!response.ok) return;
    const { kbs } = await response.json();
    const chosen = this.select.value;
    this.select.replaceChildren(...kbs.map((kb) => {
      const option = new Option(`${kb.name}${kb.default ? " (default)" : ""}`, kb.name);
      option.dataset.default = String(kb.default);
      return option;
    }));
    if (kbs.some((kb) => kb.name === chosen)) this.select.value = chosen;
  }
}
