// Ask a running streaming-rag through the Vercel AI SDK, as useChat does, from Node.
//
// Run the service (`make run`), install the SDK once (`cd examples && npm ci`), then:
// node examples/ai_sdk_chat.mjs "What is SSE?" [http://127.0.0.1:8000/ui/chat]
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [question = "What is time to first token?", api = "http://127.0.0.1:8000/ui/chat"] =
  process.argv.slice(2);
const transport = new DefaultChatTransport({ api, body: { k: 3 } });
const stream = await transport.sendMessages({
  chatId: "example",
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: undefined,
  messages: [{ id: "q1", role: "user", parts: [{ type: "text", text: question }] }],
});
let printed = 0;
let shown = 0;
for await (const message of readUIMessageStream({ stream })) {
  const sources = message.parts.filter((part) => part.type === "source-document");
  for (const source of sources.slice(shown)) {
    const { cite, score } = source.providerMetadata.rag;
    console.log(`[${cite}] ${score.toFixed(2)} ${source.title}`);
  }
  shown = sources.length;
  const text = message.parts.filter((part) => part.type === "text").map((part) => part.text).join("");
  process.stdout.write(text.slice(printed));
  printed = text.length;
}
process.stdout.write("\n");
