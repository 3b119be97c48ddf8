// Markdown from the model, made safe to show: HTML written in the text (by a document or
// the model) is shown as text, not parsed, and DOMPurify cleans what marked produced.
import { Marked } from "./vendor/marked.js";
import DOMPurify from "./vendor/purify.js";

function asText(html) {
  const box = document.createElement("div");
  box.textContent = html;
  return box.innerHTML;
}

const markdown = new Marked({ renderer: { html: ({ text }) => asText(text) } });

/** `text` rendered to sanitized HTML, ready for innerHTML. */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(markdown.parse(text, { async: false }));
}
