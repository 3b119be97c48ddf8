// The conversation: the finished turns, on screen above the question being answered and
// in localStorage, so a reload keeps the thread. A follow-up sends them as `chat_history`
// (the newest 20 messages, the server's bound). Only turns that reached `done` join it.
import { AnswerView } from "./answer.js";
import { SourceList } from "./sources.js";

const STORAGE_KEY = "streaming-rag:conversation";
const MAX_HISTORY_MESSAGES = 20; // chains/conversation.py

function load() {
  try {
    const turns = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    return Array.isArray(turns) ? turns : [];
  } catch {
    return []; // a corrupt entry starts a new conversation rather than breaking the page
  }
}

export class Thread {
  /** `element` holds the earlier turns; `onSummarize` is the source cards' action. */
  constructor(element, { onSummarize }) {
    this.element = element;
    this.onSummarize = onSummarize;
    this.turns = load();
    this.turns.forEach((turn, index) => this.render(turn, index));
    this.element.hidden = this.turns.length === 0;
  }

  /** The turns so far as the server's `chat_history`: {role, content}, oldest first. */
  history() {
    const messages = [];
    for (const turn of this.turns) {
      messages.push({ role: "user", content: turn.question });
      if (turn.answer.trim()) messages.push({ role: "assistant", content: turn.answer });
    }
    return messages.slice(-MAX_HISTORY_MESSAGES);
  }

  /** Keep a finished turn: `sources` as their events sent them, `verdicts` [cite, valid]. */
  add(turn) {
    this.turns.push(turn);
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.turns));
  }

  /** Show the newest kept turn among the earlier ones (when the next question starts). */
  showLatest() {
    if (this.turns.length === 0 || this.element.children.length === this.turns.length) return;
    this.render(this.turns[this.turns.length - 1], this.turns.length - 1);
    this.element.hidden = false;
  }

  clear() {
    this.turns = [];
    localStorage.removeItem(STORAGE_KEY);
    this.element.replaceChildren();
    this.element.hidden = true;
  }

  render(turn, index) {
    const prefix = `t${index + 1}-`;
    const article = document.createElement("article");
    article.className = "turn";
    article.setAttribute("aria-label", `Question ${index + 1}`);
    const question = document.createElement("h3");
    question.className = "turn-question";
    question.textContent = turn.question;
    const list = document.createElement("ol");
    list.className = "sources";
    list.setAttribute("aria-label", `Sources of question ${index + 1}`);
    const body = document.createElement("div");
    body.className = "turn-answer";
    article.append(question, list, body);
    this.element.append(article); // first: the cards are found by id once on the page
    const sources = new SourceList(list, { onSummarize: this.onSummarize, idPrefix: prefix });
    for (const source of turn.sources) sources.add(source, source.wave || 1);
    for (const [cite, valid] of turn.verdicts) if (valid) sources.markCited(cite);
    const answer = new AnswerView(body, {
      onCitationClick: (cite) => sources.highlight(cite), idPrefix: prefix,
    });
    answer.show(turn.answer, turn.verdicts, turn.doubts);
  }
}
