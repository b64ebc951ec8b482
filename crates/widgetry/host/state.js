/*! What the host page's modules share: where the app is and the page's settings. */
import { BASE } from './util.js';

const MCP_PATH = (document.querySelector('meta[name="widgetry-mcp-path"]') || {}).content || '/mcp';
export const MCP_URL = new URL(MCP_PATH.startsWith('/') ? MCP_PATH : '/mcp', location.origin).href;
export const REDIRECT_URI = `${location.origin}${BASE}/callback`;

/** Settings (saved per tab) and the sign-in in progress. */
export const S = {
  profile: 'chatgpt', protocol: '2025-11-25', theme: 'light', displayMode: 'inline', locale: 'en-US', maxHeight: 500,
  dropMeta: false, streamInput: false, elicit: true,
  tools: [], toolName: null, jsonMode: false,
  challenge: null, retry: null, resume: null, signingIn: false,
};
