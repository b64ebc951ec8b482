#!/usr/bin/env python3
"""Interop client built on the official MCP Python SDK (`mcp` on PyPI).

Connects to an MCP server, initializes, lists the tools, calls one tool and
prints ONE JSON line on stdout:

    {"protocolVersion": "...", "serverName": "...", "tools": ["..."],
     "toolMeta": {"<tool>": {..._meta} or null},
     "result": {"content": [...], "structuredContent": ..., "isError": ...}}

A tool call answered with a JSON-RPC error gives "callError": {"code", "message"}
instead of "result". --declare-ui declares the MCP Apps extension
(`extensions["io.modelcontextprotocol/ui"]`) in the initialize capabilities, which
the SDK's ClientSession has no option for; --client-name sets clientInfo.name.

Any failure (including the 20 s overall timeout) exits non-zero with the
error on stderr and nothing on stdout.

Usage:
    python tests/interop/py_client.py --url URL --transport streamable|sse \
        --tool NAME [--args JSON] [--declare-ui] [--client-name NAME]

For --transport sse, URL is the legacy SSE endpoint (GET /sse), which tells
the client where to POST its messages.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any

import anyio

TIMEOUT_SECONDS = 20


def _field(obj: Any, camel: str, snake: str) -> Any:
    """Read a model field under its v1 (camelCase) or v2 (snake_case) name."""
    if hasattr(obj, camel):
        return getattr(obj, camel)
    return getattr(obj, snake, None)


def _dump(model: Any) -> Any:
    """A pydantic model (or plain value) as wire-format JSON data."""
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return model


def _leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaf_errors(inner)]
    return [exc]


def _transport(kind: str, url: str):
    if kind == "sse":
        from mcp.client.sse import sse_client

        return sse_client(url, timeout=TIMEOUT_SECONDS, sse_read_timeout=TIMEOUT_SECONDS)
    try:
        from mcp.client.streamable_http import streamable_http_client
    except ImportError:  # mcp < 1.24 only has the older name
        from mcp.client.streamable_http import streamablehttp_client as streamable_http_client
    return streamable_http_client(url)


UI_EXTENSION = {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}


def _session_class(declare_ui: bool):
    """The SDK's ClientSession, declaring the MCP Apps extension when asked: the
    capabilities model allows extra fields, so the declaration is added to the
    initialize request the SDK builds, on its way out."""
    from mcp import ClientSession, types

    if not declare_ui:
        return ClientSession

    class UiClientSession(ClientSession):
        async def send_request(self, request, *args, **kwargs):
            root = getattr(request, "root", request)
            if isinstance(root, types.InitializeRequest):
                root.params.capabilities.extensions = UI_EXTENSION
            return await super().send_request(request, *args, **kwargs)

    return UiClientSession


async def _run(
    url: str,
    kind: str,
    tool: str,
    tool_args: dict[str, Any],
    declare_ui: bool,
    client_name: str | None,
) -> dict[str, Any]:
    from mcp import McpError, types

    session_class = _session_class(declare_ui)
    info = types.Implementation(name=client_name, version="0.1.0") if client_name else None
    async with _transport(kind, url) as streams:
        read_stream, write_stream = streams[0], streams[1]
        async with session_class(read_stream, write_stream, client_info=info) as session:
            init = await session.initialize()
            server_info = _field(init, "serverInfo", "server_info")

            tools: list[str] = []
            tool_meta: dict[str, Any] = {}
            cursor = None
            while True:
                page = await (session.list_tools(cursor=cursor) if cursor else session.list_tools())
                tools.extend(t.name for t in page.tools)
                for t in page.tools:
                    tool_meta[t.name] = _dump(t).get("_meta")
                cursor = _field(page, "nextCursor", "next_cursor")
                if not cursor:
                    break

            out: dict[str, Any] = {
                "protocolVersion": _field(init, "protocolVersion", "protocol_version"),
                "serverName": getattr(server_info, "name", None),
                "tools": tools,
                "toolMeta": tool_meta,
            }
            try:
                result = await session.call_tool(tool, tool_args)
            except McpError as exc:
                out["callError"] = {"code": exc.error.code, "message": exc.error.message}
                return out
            out["result"] = {
                "content": [_dump(item) for item in result.content],
                "structuredContent": _field(result, "structuredContent", "structured_content"),
                "isError": _field(result, "isError", "is_error"),
            }
            return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--transport", required=True, choices=["streamable", "sse"])
    parser.add_argument("--tool", required=True)
    parser.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    parser.add_argument("--declare-ui", action="store_true", help="declare the MCP Apps extension")
    parser.add_argument("--client-name", default=None, help="clientInfo.name")
    opts = parser.parse_args()

    try:
        tool_args = json.loads(opts.args)
    except json.JSONDecodeError as exc:
        parser.error(f"--args is not valid JSON: {exc}")
    if not isinstance(tool_args, dict):
        parser.error("--args must be a JSON object")

    async def bounded() -> dict[str, Any] | None:
        with anyio.move_on_after(TIMEOUT_SECONDS):
            return await _run(
                opts.url, opts.transport, opts.tool, tool_args, opts.declare_ui, opts.client_name
            )
        return None

    try:
        out = anyio.run(bounded)
    except BaseException as exc:  # noqa: BLE001 - report anything, including exception groups
        if isinstance(exc, KeyboardInterrupt):
            raise
        for leaf in _leaf_errors(exc):
            print(f"py_client: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        return 1
    if out is None:
        print(f"py_client: timed out after {TIMEOUT_SECONDS} s", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
