// widgetry/react: React hooks over the Widgetry runtime (window.widgetry). Every value hook
// reads the runtime's current value and re-renders on its 'globals' event (one
// useSyncExternalStore each, as the Apps SDK's useOpenAiGlobal does); the call hooks keep the
// pending / error / data state of tool calls and widget actions.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { getWidgetry } from './index.js';

const NO_INSETS = Object.freeze({ top: 0, right: 0, bottom: 0, left: 0 });
const onGlobals = (cb) => getWidgetry().on('globals', cb);

/** The runtime (throws a clear error when the page has none). */
export function useWidgetry() {
  return getWidgetry();
}

/** One of the runtime's values (`toolOutput`, `theme`, `hostContext`, …), kept current. */
export function useWidgetryGlobal(key) {
  const read = () => getWidgetry()[key];
  return useSyncExternalStore(onGlobals, read, read);
}

/** The tool's arguments (null until the host sends them; for a tool needing approval: once approved). */
export const useToolInput = () => useWidgetryGlobal('toolInput');
/** The tool result's `structuredContent` (null until the result arrives). */
export const useToolOutput = () => useWidgetryGlobal('toolOutput');
/** The full CallToolResult where the host delivers it (MCP Apps), else null. */
export const useToolResult = () => useWidgetryGlobal('toolResult');
/** The tool result's `_meta`: data for the widget only, never shown to the model. */
export const useToolResponseMetadata = () => useWidgetryGlobal('toolResponseMetadata');
/** "light" or "dark" (the runtime also sets `<html data-theme>`). */
export const useTheme = () => useWidgetryGlobal('theme');
/** The host's BCP 47 locale, or null. */
export const useLocale = () => useWidgetryGlobal('locale');
/** The height in px the host allows the widget, or null. */
export const useMaxHeight = () => useWidgetryGlobal('maxHeight');
/** The MCP Apps host context (null under other hosts). */
export const useHostContext = () => useWidgetryGlobal('hostContext');

/** The insets the host keeps clear (MCP Apps `safeAreaInsets`); zeros when it names none. */
export function useSafeArea() {
  const ctx = useHostContext();
  return (ctx && ctx.safeAreaInsets) || NO_INSETS;
}

/** `[mode, request]`: the display mode, and a function asking the host for another one. */
export function useDisplayMode() {
  const mode = useWidgetryGlobal('displayMode');
  const request = useCallback((next) => getWidgetry().requestDisplayMode(next), []);
  return [mode, request];
}

function onPartial(cb) {
  const offPartial = getWidgetry().on('toolinputpartial', cb);
  const offGlobals = onGlobals(cb);
  return () => { offPartial(); offGlobals(); };
}
const readPartial = () => { const w = getWidgetry(); return w.toolInput ?? w.toolInputPartial; };

/**
 * The tool's arguments while the model is still writing them (`tool-input-partial`), then
 * the final arguments once they arrive; null before either. `useToolInput() !== null` tells
 * the final from a partial.
 */
export function usePartialToolInput() {
  return useSyncExternalStore(onPartial, readPartial, readPartial);
}

/**
 * `[state, setState]` like React's useState, persisted with `widgetry.setWidgetState` (the
 * host keeps it for this widget instance and shows it to the model; see the runtime's docs).
 * `setState` takes a value or an updater and returns the runtime's promise.
 */
export function useWidgetState(defaultState) {
  const [fallback] = useState(defaultState);
  const fallbackRef = useRef(fallback);
  const stored = useWidgetryGlobal('widgetState');
  const setState = useCallback((next) => {
    const w = getWidgetry();
    const current = w.widgetState ?? fallbackRef.current;
    return w.setWidgetState(typeof next === 'function' ? next(current) : next);
  }, []);
  return [stored ?? fallback, setState];
}

/** Calls `handler` on every runtime event `event` while the component is mounted. */
export function useWidgetryEvent(event, handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => getWidgetry().on(event, (payload) => latest.current(payload)), [event]);
}

// The state machine behind useCallTool and useAction: `pending` while any call runs; `data`
// and `error` from the latest call started (an older call finishing late changes nothing).
function useCall(invoke) {
  const [state, setState] = useState({ pending: false, error: null, data: null });
  const started = useRef(0);
  const running = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => { mounted.current = false; };
  }, []);
  const run = useCallback(async (input) => {
    const id = ++started.current;
    running.current += 1;
    setState((s) => ({ ...s, pending: true, error: null }));
    let data = null;
    let error = null;
    try {
      data = await invoke(input);
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
    }
    running.current -= 1;
    if (mounted.current) {
      const pending = running.current > 0;
      setState((s) => (id === started.current ? { pending, error, data: error ? s.data : data } : { ...s, pending }));
    }
    return error ? undefined : data;
  }, [invoke]);
  const reset = useCallback(() => setState((s) => ({ pending: s.pending, error: null, data: null })), []);
  return { ...state, run, reset };
}

const resultText = (r) => (Array.isArray(r && r.content) ? r.content.map((c) => c && c.text).filter(Boolean).join(' ') : '');

/**
 * `{ run(args), pending, error, data, reset }` for a tool of this app's server. `data` is the
 * CallToolResult; a result with `isError` becomes `error` (its text as the message, the
 * result as `error.result`). `run` never rejects: it resolves with the result, or with
 * undefined when the call failed.
 */
export function useCallTool(name) {
  const invoke = useCallback(async (args) => {
    const r = await getWidgetry().callTool(name, args || {});
    if (r && r.isError) {
      const e = new Error(resultText(r) || `the tool '${name}' failed`);
      e.result = r;
      throw e;
    }
    return r;
  }, [name]);
  return useCall(invoke);
}

/**
 * `{ run(input), pending, error, data, signInRequired, reset }` for a widget action (DESIGN.md
 * §5): `data` is the action's structuredContent; `signInRequired` is true when the action
 * found the user signed out or without the scope it needs (the runtime's WidgetryAuthError;
 * `error.reason` says which). `run` never rejects: it resolves with the output, or with
 * undefined when the action failed.
 */
export function useAction(name) {
  const invoke = useCallback((input) => getWidgetry().action(name, input || {}), [name]);
  const call = useCall(invoke);
  return { ...call, signInRequired: !!(call.error && call.error.code === 'signin_required') };
}
