// Types of widgetry/react: React hooks over the Widgetry runtime.
import type {
  DisplayMode, Events, Globals, HostContext, SafeAreaInsets, Theme, ToolResult, Widgetry,
} from "./index.js";

/** A value of the runtime that `useWidgetryGlobal` can watch. */
export type GlobalKey = Exclude<keyof Globals, "host"> | "hostContext";
/** The type of each watchable value. */
export type GlobalValue<K extends GlobalKey> = K extends keyof Globals ? Globals[K] : HostContext | null;

/** The runtime (throws a clear error when the page has none). */
export function useWidgetry(): Widgetry;
/** One of the runtime's values, kept current (re-renders when the host changes it). */
export function useWidgetryGlobal<K extends GlobalKey>(key: K): GlobalValue<K>;

/** The tool's arguments (null until the host sends them; for a tool needing approval: once approved). */
export function useToolInput<T = Record<string, unknown>>(): T | null;
/**
 * The tool's arguments while the model is still writing them (`tool-input-partial`), then the
 * final arguments once they arrive; null before either. `useToolInput() !== null` tells the
 * final from a partial.
 */
export function usePartialToolInput<T = Record<string, unknown>>(): Partial<T> | null;
/** The tool result's `structuredContent` (null until the result arrives). */
export function useToolOutput<T = Record<string, unknown>>(): T | null;
/** The full CallToolResult where the host delivers it (MCP Apps), else null. */
export function useToolResult<S = Record<string, unknown>, M = Record<string, unknown>>(): ToolResult<S, M> | null;
/** The tool result's `_meta`: data for the widget only, never shown to the model. */
export function useToolResponseMetadata<M = Record<string, unknown>>(): M | null;
/** "light" or "dark" (the runtime also sets `<html data-theme>`). */
export function useTheme(): Theme;
/** The host's BCP 47 locale, or null. */
export function useLocale(): string | null;
/** The height in px the host allows the widget, or null. */
export function useMaxHeight(): number | null;
/** The MCP Apps host context (null under other hosts). */
export function useHostContext(): HostContext | null;
/** The insets the host keeps clear (MCP Apps `safeAreaInsets`); zeros when it names none. */
export function useSafeArea(): SafeAreaInsets;
/** `[mode, request]`: the display mode, and a function asking the host for another (resolves with the mode granted). */
export function useDisplayMode(): readonly [
  DisplayMode | string,
  (mode: DisplayMode) => Promise<{ mode: DisplayMode | string }>,
];

/** A value or an updater of the previous value, as React's useState takes. */
export type SetStateAction<T> = T | ((previous: T) => T);
/**
 * `[state, setState]` like React's useState, persisted with `widgetry.setWidgetState` (the
 * host keeps it for this widget instance and shows it to the model). `setState` returns the
 * runtime's promise.
 */
export function useWidgetState<T>(defaultState: T | (() => T)): readonly [T, (next: SetStateAction<T>) => Promise<void>];

/** Calls `handler` on every runtime event `event` while the component is mounted. */
export function useWidgetryEvent<E extends keyof Events>(event: E, handler: (payload: Events[E]) => void): void;

/** The state of a call hook: `pending` while any call runs; `data` / `error` of the latest call. */
export interface CallState<I, O> {
  /** Starts a call; never rejects: resolves with the output, or undefined when it failed. */
  run(input?: I): Promise<O | undefined>;
  pending: boolean;
  error: (Error & { code?: string; reason?: string; result?: ToolResult }) | null;
  data: O | null;
  /** Clears `data` and `error`. */
  reset(): void;
}

/**
 * A tool of this app's server: `data` is the CallToolResult; a result with `isError` becomes
 * `error` (its text as the message, the result as `error.result`).
 */
export function useCallTool<S = Record<string, unknown>, A extends Record<string, unknown> = Record<string, unknown>>(
  name: string,
): CallState<A, ToolResult<S>>;

/**
 * A widget action for the signed-in user: `data` is its structuredContent; `signInRequired`
 * is true when it found the user signed out or without its scope (`error.reason` says which).
 */
export function useAction<O = Record<string, unknown>, I extends Record<string, unknown> = Record<string, unknown>>(
  name: string,
): CallState<I, O> & { signInRequired: boolean };
