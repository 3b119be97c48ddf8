// The AI SDK's own client against POST /ui/chat: what useChat does, from Node.
//
// Run with the examples' node_modules (`node --input-type=module` in examples/, the
// script on stdin). argv: the URL, then the chat's messages as JSON. DefaultChatTransport
// posts useChat's body and parses the stream with the SDK's parseJsonEventStream and
// uiMessageChunkSchema, failing on any chunk that does not validate; readUIMessageStream
// builds the message from the chunks as useChat does. Prints one JSON object: the
// stream's header, every chunk in order, and the final message.
import { DefaultChatTransport, readUIMessageStream } from "ai";

const [api, messagesJson, bodyJson = "{}"] = process.argv.slice(2);
let header = null;
const transport = new DefaultChatTransport({
  api,
  body: JSON.parse(bodyJson),
  fetch: async (url, init) => {
    const response = await fetch(url, init);
    header = response.headers.get("x-vercel-ai-ui-message-stream");
    return response;
  },
});
const stream = await transport.sendMessages({
  chatId: "chat-1",
  trigger: "submit-message",
  messageId: undefined,
  abortSignal: undefined,
  messages: JSON.parse(messagesJson),
});
const [forChunks, forMessage] = stream.tee();
const chunks = [];
const collecting = (async () => {
  for await (const chunk of forChunks) chunks.push(chunk);
})();
let message = null;
for await (const snapshot of readUIMessageStream({ stream: forMessage })) message = snapshot;
await collecting;
process.stdout.write(JSON.stringify({ header, chunks, message }));
