/*! The app's MCP server as the page uses it: one client, sign-in aware requests. */
import { auth } from './auth.js';
import { AuthChallengeError, McpClient } from './mcp.js';
import { MCP_URL, S } from './state.js';

export const mcp = new McpClient(MCP_URL, () => auth.accessToken());
auth.onChange = () => mcp.reset();

/**
 * An MCP request with sign-in handling: refreshes an expired token once, else throws.
 * `opts.signal` cancels it (see `McpClient.request`).
 */
export async function serverRequest(method, params, opts) {
  try {
    return await mcp.request(method, params, opts);
  } catch (e) {
    if (e instanceof AuthChallengeError && e.status === 401 && auth.tokens && auth.tokens.refresh_token) {
      if (await auth.refresh()) return mcp.request(method, params, opts);
    }
    throw e;
  }
}

/** The `_meta` ChatGPT sends with a call (locale, user agent, widget session). */
export function requestMeta(callId) {
  return {
    'openai/locale': S.locale,
    'openai/userAgent': navigator.userAgent,
    'openai/widgetSessionId': callId ? `host-${callId}` : undefined,
  };
}
