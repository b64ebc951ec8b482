// Types of the `widgetry` package: the runtime's API (runtime.d.ts, which also declares the
// global `window.widgetry`) under module-friendly names.
import "./runtime.js";

export type Widgetry = globalThis.Widgetry;
export type Host = WidgetryHost;
export type Theme = WidgetryTheme;
export type DisplayMode = WidgetryDisplayMode;
export type ContentBlock = WidgetryContentBlock;
export type ToolResult<S = Record<string, unknown>, M = Record<string, unknown>> = WidgetryToolResult<S, M>;
export type HostContext = WidgetryHostContext;
export type HostCapabilities = WidgetryHostCapabilities;
export type Globals = WidgetryGlobals;
export type StructuredState = WidgetryStructuredState;
export type Events = WidgetryEvents;
export type Initial = WidgetryInitial;
/** The insets a host keeps clear (notches, its own controls), in px. */
export type SafeAreaInsets = { top: number; right: number; bottom: number; left: number };

/** The runtime on this page, or null when it is missing. */
export function findWidgetry(): Widgetry | null;
/** The runtime on this page; throws an error that says how to get it when it is missing. */
export function getWidgetry(): Widgetry;
