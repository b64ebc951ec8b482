// TypeScript declarations for widgetry.js, the Widgetry widget runtime.
// The runtime is inlined into every widget's <head> and defines the global `widgetry`.
// Hosts: ChatGPT's Apps SDK (`window.openai`), the MCP Apps extension (SEP-1865,
// JSON-RPC 2.0 over postMessage, protocol "2026-01-26"), or none (a plain page).

export {};

declare global {
  /** Which host the widget runs in. */
  type WidgetryHost = "openai" | "mcp-apps" | "none";
  type WidgetryTheme = "light" | "dark";
  type WidgetryDisplayMode = "inline" | "fullscreen" | "pip";

  /** An MCP content block (text, image, audio, resource, resource_link, ...). */
  interface WidgetryContentBlock {
    type: string;
    text?: string;
    [key: string]: unknown;
  }

  /** An MCP CallToolResult. Tool failures resolve with `isError: true`; they do not reject. */
  interface WidgetryToolResult<S = Record<string, unknown>, M = Record<string, unknown>> {
    content?: WidgetryContentBlock[];
    structuredContent?: S;
    isError?: boolean;
    /** Private widget data: reaches the widget, never the model. */
    _meta?: M;
    [key: string]: unknown;
  }

  /** The MCP Apps host context (McpUiHostContext), as merged from ui/initialize and host-context-changed. */
  interface WidgetryHostContext {
    toolInfo?: { id?: string | number; tool: { name: string; [key: string]: unknown } };
    theme?: WidgetryTheme;
    styles?: { variables?: Record<string, string | undefined>; css?: { fonts?: string } };
    displayMode?: WidgetryDisplayMode;
    availableDisplayModes?: WidgetryDisplayMode[];
    containerDimensions?: { height?: number; maxHeight?: number; width?: number; maxWidth?: number };
    locale?: string;
    timeZone?: string;
    userAgent?: string;
    platform?: "web" | "desktop" | "mobile";
    deviceCapabilities?: { touch?: boolean; hover?: boolean };
    safeAreaInsets?: { top: number; right: number; bottom: number; left: number };
    [key: string]: unknown;
  }

  /** Everything the 'globals' event reports. */
  interface WidgetryGlobals {
    host: WidgetryHost;
    toolInput: Record<string, unknown> | null;
    toolOutput: any;
    toolResult: WidgetryToolResult | null;
    toolResponseMetadata: Record<string, unknown> | null;
    widgetState: any;
    theme: WidgetryTheme;
    displayMode: WidgetryDisplayMode | string;
    maxHeight: number | null;
    locale: string | null;
  }

  interface WidgetryEvents {
    /** The tool's arguments arrived or changed. */
    toolinput: Record<string, unknown>;
    /**
     * A tool result arrived (MCP Apps: every `ui/notifications/tool-result`; ChatGPT: when
     * `toolOutput` / `toolResponseMetadata` change, reported as `{ structuredContent, _meta }`).
     */
    toolresult: WidgetryToolResult;
    /** The theme changed; `document.documentElement.dataset.theme` is already updated. */
    theme: WidgetryTheme;
    /** Any global changed. */
    globals: WidgetryGlobals;
    /** A widget action found the user signed out or without the needed scope. */
    auth: { signedIn: false; reason: "signed_out" | "scope_lost" | "renew_failed" };
  }

  /** Data a standalone page (host "none") starts with; `host: "none"` forces that host inside an iframe. */
  interface WidgetryInitial {
    host?: "none";
    toolInput?: Record<string, unknown>;
    toolOutput?: unknown;
    toolResult?: WidgetryToolResult;
    toolResponseMetadata?: Record<string, unknown>;
    widgetState?: unknown;
    theme?: WidgetryTheme;
    displayMode?: WidgetryDisplayMode;
    maxHeight?: number;
    locale?: string;
  }

  interface Widgetry {
    /** Runtime version. */
    readonly version: string;
    /** "openai" when `window.openai` exists, "mcp-apps" inside another iframe host, else "none". */
    readonly host: WidgetryHost;
    /** Why the host handshake failed (e.g. no answer to `ui/initialize` within 30 s), else null. */
    readonly initError: Error | null;
    /** MCP Apps host context (null under other hosts). */
    readonly hostContext: WidgetryHostContext | null;

    /** The tool's arguments. */
    readonly toolInput: Record<string, unknown> | null;
    /** The tool result's `structuredContent` (null until the result arrives). */
    readonly toolOutput: any;
    /** The full CallToolResult when the host delivers it (MCP Apps, or `__WIDGETRY_INITIAL__`); null under ChatGPT. */
    readonly toolResult: WidgetryToolResult | null;
    /** The tool result's `_meta` (widget-only data). */
    readonly toolResponseMetadata: Record<string, unknown> | null;
    /** State persisted for this widget instance (ChatGPT: host-stored and visible to the model). */
    readonly widgetState: any;
    readonly theme: WidgetryTheme;
    readonly displayMode: WidgetryDisplayMode | string;
    /** Max height in px the host allows (ChatGPT `maxHeight`, MCP Apps `containerDimensions`). */
    readonly maxHeight: number | null;
    /** BCP 47 locale, e.g. "en-US". */
    readonly locale: string | null;

    /**
     * Resolves once the host handshake is done (MCP Apps: after `ui/initialize`; ChatGPT and
     * no host: at once). Always resolves; see `initError`. The tool result may arrive later:
     * listen to 'toolresult'.
     */
    ready(): Promise<void>;

    /** Subscribe to an event; returns the unsubscribe function. */
    on<E extends keyof WidgetryEvents>(event: E, cb: (payload: WidgetryEvents[E]) => void): () => void;

    /** Persist widget state (ChatGPT: `window.openai.setWidgetState`; MCP Apps: kept locally + sessionStorage when allowed). */
    setWidgetState(state: unknown): Promise<void>;

    /**
     * Call a tool of this app's server (MCP Apps: `tools/call`; ChatGPT: `window.openai.callTool`).
     * Rejects on transport errors and 30 s timeouts; tool failures resolve with `isError: true`.
     */
    callTool<S = Record<string, unknown>, M = Record<string, unknown>>(
      name: string,
      args?: Record<string, unknown>,
    ): Promise<WidgetryToolResult<S, M>>;

    /** Post a user message into the conversation (MCP Apps: `ui/message`; ChatGPT: `sendFollowUpMessage`). */
    sendFollowUpMessage(text: string): Promise<void>;

    /** Ask the host for another display mode; resolves with the mode actually granted. */
    requestDisplayMode(mode: WidgetryDisplayMode): Promise<{ mode: WidgetryDisplayMode | string }>;

    /** Open a URL outside the widget (MCP Apps: `ui/open-link`; ChatGPT: `openExternal`). */
    openExternal(url: string): Promise<void>;

    /**
     * Perform a widget action for the signed-in user and resolve with its `structuredContent`.
     * Calls `POST /widget/actions/<name>` directly with the widget token from the tool result's
     * `_meta["widgetry/widgetToken"]`, renews the token through the host before it expires and
     * once on a 401, and falls back to `callTool(name, input)` when the direct call is blocked.
     * Rejects with a `WidgetryAuthError` (code "signin_required", reason "signed_out" |
     * "scope_lost" | "renew_failed") when the user must sign in again; 'auth' fires too.
     */
    action<O = Record<string, unknown>>(name: string, input?: Record<string, unknown>): Promise<O>;

    /** The current widget-token grant (never the token itself), or null without one. */
    readonly actionGrant: { signedIn: boolean; actions: string[]; expiresAt: number | null } | null;
  }

  interface Window {
    readonly widgetry: Widgetry;
    __WIDGETRY_INITIAL__?: WidgetryInitial;
  }

  const widgetry: Widgetry;
}
