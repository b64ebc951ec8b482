#!/usr/bin/env node
// Interop client built on the official MCP TypeScript SDK.
//
// Connects to an MCP server, initializes, lists the tools, calls one tool and
// prints ONE JSON line on stdout:
//   {"protocolVersion": "...", "serverName": "...", "tools": ["..."],
//    "toolMeta": {"<tool>": {..._meta} or null},
//    "result": {"content": [...], "structuredContent": ..., "isError": ...}}
// A tool call answered with a JSON-RPC error gives "callError": {code, message}
// instead of "result". --declare-ui declares the MCP Apps extension
// (capabilities.extensions["io.modelcontextprotocol/ui"]); --client-name sets
// clientInfo.name.
// Any failure (including the 20 s overall timeout) exits non-zero with the
// error on stderr and nothing on stdout.
//
// Usage:
//   node tests/node/interop_client.mjs --url URL --transport streamable|sse \
//        --tool NAME [--args JSON] [--declare-ui] [--client-name NAME]
// For --transport sse, URL is the legacy SSE endpoint (GET /sse), which
// tells the client where to POST its messages.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

const TIMEOUT_MS = 20_000;

function usage(message) {
  process.stderr.write(
    `interop_client: ${message}\n` +
      "usage: interop_client.mjs --url URL --transport streamable|sse --tool NAME [--args JSON] [--declare-ui] [--client-name NAME]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { args: "{}", declareUi: false, "client-name": "widgetry-interop-node" };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === "--declare-ui") {
      opts.declareUi = true;
      continue;
    }
    if (!["--url", "--transport", "--tool", "--args", "--client-name"].includes(flag)) usage(`unknown argument ${flag}`);
    if (value === undefined) usage(`${flag} needs a value`);
    opts[flag.slice(2)] = value;
    i += 1;
  }
  if (!opts.url) usage("--url is required");
  if (!opts.tool) usage("--tool is required");
  if (!["streamable", "sse"].includes(opts.transport)) usage("--transport must be streamable or sse");
  let toolArgs;
  try {
    toolArgs = JSON.parse(opts.args);
  } catch (e) {
    usage(`--args is not valid JSON: ${e.message}`);
  }
  if (toolArgs === null || typeof toolArgs !== "object" || Array.isArray(toolArgs)) usage("--args must be a JSON object");
  return {
    url: new URL(opts.url),
    transport: opts.transport,
    tool: opts.tool,
    toolArgs,
    declareUi: opts.declareUi,
    clientName: opts["client-name"],
  };
}

const UI_EXTENSION = { "io.modelcontextprotocol/ui": { mimeTypes: ["text/html;profile=mcp-app"] } };

async function run({ url, transport: kind, tool, toolArgs, declareUi, clientName }) {
  const transport =
    kind === "streamable" ? new StreamableHTTPClientTransport(url) : new SSEClientTransport(url);
  // The SDK does not expose the negotiated version; it hands it to the
  // transport right after the initialize response, so capture it there.
  let protocolVersion = null;
  const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (version) => {
    protocolVersion = version;
    setProtocolVersion?.(version);
  };

  const capabilities = declareUi ? { extensions: UI_EXTENSION } : {};
  const client = new Client({ name: clientName, version: "0.1.0" }, { capabilities });
  await client.connect(transport);
  try {
    const tools = [];
    const toolMeta = {};
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      tools.push(...page.tools.map((t) => t.name));
      for (const t of page.tools) toolMeta[t.name] = t._meta ?? null;
      cursor = page.nextCursor;
    } while (cursor);

    const out = { protocolVersion, serverName: client.getServerVersion()?.name ?? null, tools, toolMeta };
    let result;
    try {
      result = await client.callTool({ name: tool, arguments: toolArgs });
    } catch (e) {
      if (!(e instanceof McpError)) throw e;
      out.callError = { code: e.code, message: e.message };
      return out;
    }
    out.result = {
      content: result.content,
      structuredContent: result.structuredContent,
      isError: result.isError,
    };
    return out;
  } finally {
    await client.close().catch(() => {});
  }
}

const options = parseArgs(process.argv.slice(2));
const timer = setTimeout(() => {
  process.stderr.write(`interop_client: timed out after ${TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TIMEOUT_MS);

run(options).then(
  (out) => {
    clearTimeout(timer);
    process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
  },
  (err) => {
    clearTimeout(timer);
    process.stderr.write(`interop_client: ${err?.stack ?? err}\n`);
    process.exit(1);
  },
);
