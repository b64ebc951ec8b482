// TypeScript declarations for widgetry.js, the Widgetry widget runtime.
// The runtime is inlined into every widget's <head> and defines the global `widgetry`.
// In a frame it always speaks the MCP Apps bridge (SEP-1865, JSON-RPC 2.0 over
// postMessage, protocol "2026-01-26"); ChatGPT's `window.openai` adds extras on top and is
// the whole host only where `ui/initialize` goes unanswered. No frame: host "none".

export {};

declare global {
  /** Which bridge the widget talks through ("openai": only window.openai answered). */
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

  /** McpUiHostCapabilities: what the host offers (checked before each use). */
  interface WidgetryHostCapabilities {
    experimental?: Record<string, object>;
    openLinks?: {};
    downloadFile?: {};
    serverTools?: { listChanged?: boolean };
    serverResources?: { listChanged?: boolean };
    logging?: {};
    sandbox?: { permissions?: Record<string, {}>; csp?: Record<string, string[]> };
    updateModelContext?: Record<string, {}>;
    message?: Record<string, {}>;
    sampling?: { tools?: {} };
    [key: string]: unknown;
  }

  /** ChatGPT's structured widget state: only `modelContent` reaches the model. */
  interface WidgetryStructuredState {
    modelContent?: unknown;
    privateContent?: unknown;
    imageIds?: string[];
  }

  interface WidgetryEvents {
    /** The tool's arguments arrived or changed (for a tool needing approval: once approved). */
    toolinput: Record<string, unknown>;
    /** Partial arguments while the model is still writing them (`ui/notifications/tool-input-partial`). */
    toolinputpartial: Record<string, unknown>;
    /** The host cancelled the tool call (`ui/notifications/tool-cancelled`): leave the loading state. */
    toolcancelled: { reason: string | null };
    /**
     * The host is about to remove the widget (`ui/resource-teardown`): save what must
     * survive. The host's answer waits for returned promises, at most 3 s.
     */
    teardown: {};
    /**
     * A tool result arrived (MCP Apps: every `ui/notifications/tool-result`; ChatGPT: when
     * `toolOutput` / `toolResponseMetadata` change, reported as `{ structuredContent, _meta }`).
     */
    toolresult: WidgetryToolResult;
    /** The theme changed; `document.documentElement.dataset.theme` is already updated. */
    theme: WidgetryTheme;
    /** Any global (or the host context) changed. */
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
    /**
     * "mcp-apps" once `ui/initialize` is answered (ChatGPT included); "openai" when only
     * `window.openai` answers; "none" outside a frame or when no host answers.
     */
    readonly host: WidgetryHost;
    /** Why the handshake failed (no answer to `ui/initialize` within 10 s, 2 s beside window.openai), else null. */
    readonly initError: Error | null;
    /** MCP Apps host context (null under other hosts). */
    readonly hostContext: WidgetryHostContext | null;
    /** The host's `hostInfo` from `ui/initialize`, or null. */
    readonly hostInfo: { name: string; version: string; [key: string]: unknown } | null;
    /** The host's capabilities from `ui/initialize` (null before it or without the bridge). */
    readonly hostCapabilities: WidgetryHostCapabilities | null;
    /** ChatGPT's widget session id (`_meta["openai/widgetSessionId"]` or `window.openai.widgetSessionId`), or null. */
    readonly widgetSessionId: string | null;
    /** Whether `window.openai` offers the function `name` (e.g. "uploadFile", "requestModal"). */
    hasExtra(name: string): boolean;

    /** The tool's arguments. */
    readonly toolInput: Record<string, unknown> | null;
    /** The latest partial arguments (`tool-input-partial`) while the model writes them, or null. */
    readonly toolInputPartial: Record<string, unknown> | null;
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
     * Resolves once the host handshake is done (answered or timed out) or at once outside
     * a frame. Always resolves; see `initError`. The tool input and result may arrive
     * later: listen to 'toolinput' and 'toolresult'. Every method below waits for it.
     */
    ready(): Promise<void>;

    /** Subscribe to an event; returns the unsubscribe function. */
    on<E extends keyof WidgetryEvents>(event: E, cb: (payload: WidgetryEvents[E]) => void): () => void;

    /**
     * Persist widget state and show it to the model. ChatGPT: `window.openai.setWidgetState`
     * (host-stored; a `WidgetryStructuredState` keeps `privateContent` from the model).
     * Other MCP Apps hosts: `ui/update-model-context` (when the host offers
     * `updateModelContext`) and the frame's storage per tool call, so a reload of the same
     * call restores it (where the sandbox grants storage).
     */
    setWidgetState(state: unknown | WidgetryStructuredState): Promise<void>;

    /** Replace what the model sees of the widget (`ui/update-model-context`); rejects when the host offers no `updateModelContext`. */
    updateModelContext(ctx: { content?: WidgetryContentBlock[]; structuredContent?: Record<string, unknown> }): Promise<void>;

    /**
     * Call a tool of this app's server (`tools/call` when the host offers `serverTools`,
     * else `window.openai.callTool`). No time limit beyond the host's (a call may wait for
     * the user's approval). Rejects on transport errors; tool failures resolve with `isError: true`.
     */
    callTool<S = Record<string, unknown>, M = Record<string, unknown>>(
      name: string,
      args?: Record<string, unknown>,
    ): Promise<WidgetryToolResult<S, M>>;

    /**
     * Post a user message into the conversation (`ui/message` when the host offers
     * `message`, else `sendFollowUpMessage`). Rejects when the host refuses it (`isError`).
     */
    sendFollowUpMessage(text: string): Promise<void>;

    /**
     * Ask the host for another display mode; resolves with the mode actually granted (the
     * current one, without asking, when the host's `availableDisplayModes` lacks it).
     */
    requestDisplayMode(mode: WidgetryDisplayMode): Promise<{ mode: WidgetryDisplayMode | string }>;

    /** Open a URL outside the widget (`ui/open-link` when offered, else `openExternal`, else `window.open`); rejects when the host refuses. */
    openExternal(url: string): Promise<void>;

    /** Ask the host to close the widget (ChatGPT `requestClose`, else `ui/notifications/request-teardown`). */
    requestClose(): Promise<void>;

    /** ChatGPT extra: upload a user-chosen file (png/jpeg/webp); rejects where `window.openai.uploadFile` is missing. */
    uploadFile(file: File): Promise<{ fileId: string }>;
    /** ChatGPT extra: a temporary download URL for an uploaded or file-param file. */
    getFileDownloadUrl(fileId: string): Promise<{ downloadUrl: string }>;
    /** ChatGPT extra: open a host modal. */
    requestModal(options: { title?: string; params?: Record<string, unknown>; [key: string]: unknown }): Promise<unknown>;
    /** ChatGPT extra: the URL the host's "open in app" button opens. */
    setOpenInAppUrl(href: string): Promise<void>;

    /**
     * Perform a widget action for the signed-in user and resolve with its `structuredContent`.
     * Calls `POST /widget/actions/<name>` directly with the widget token from the tool result's
     * `_meta["widgetry/widgetToken"]`, renews the token through the host before it expires and
     * once on a 401, and goes through the host (`callTool(name, input)`) when the direct call is
     * blocked or refused for a missing scope (so the host can ask the user for it).
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
