// {{title}} widget (React + TypeScript): renders the result of `{{tool}}` ({ title, items:
// [{ id, title, detail?, done }], viewer? }). The hooks come from the `widgetry` package
// (widgetry/react); the runtime under them is on the page (inlined by `widgetry build`,
// injected by the `widgetry/vite` plugin under `npm run dev`).
import { useCallTool, useDisplayMode, useToolOutput, useWidgetState } from 'widgetry/react';

const TOOL = '{{tool}}';

type Item = { id: string; title: string; detail?: string; done?: boolean };
type Output = { title?: string; items?: Item[]; viewer?: { name: string } };

export default function App() {
  const output = useToolOutput<Output>();
  const refresh = useCallTool<Output>(TOOL);
  // Which items the user starred: kept by the host for this widget and shown to the model.
  const [starred, setStarred] = useWidgetState<string[]>([]);
  const [mode, requestMode] = useDisplayMode();

  const shown = refresh.data?.structuredContent ?? output;
  const items = shown?.items ?? null;
  const toggle = (id: string) =>
    setStarred((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  return (
    <main className="w" aria-busy={items == null}>
      <header className="head">
        <h1>{shown?.title || '{{title}}'}</h1>
        <span className="tools">
          <button type="button" onClick={() => requestMode(mode === 'fullscreen' ? 'inline' : 'fullscreen')}>
            {mode === 'fullscreen' ? 'Exit fullscreen' : 'Fullscreen'}
          </button>
          <button type="button" onClick={() => refresh.run()} disabled={refresh.pending}>
            {refresh.pending ? 'Refreshing…' : 'Refresh'}
          </button>
        </span>
      </header>
      {shown?.viewer && <p className="viewer">Signed in as {shown.viewer.name}</p>}
      {refresh.error && <p className="error" role="alert">Refreshing failed: {refresh.error.message}</p>}
      {items == null ? (
        <p className="note" role="status">Loading…</p>
      ) : items.length === 0 ? (
        <p className="note">Nothing to show.</p>
      ) : (
        <ul className="list">
          {items.map((item) => (
            <li key={item.id} data-done={String(!!item.done)}>
              <button
                type="button"
                className="star"
                aria-pressed={starred.includes(item.id)}
                aria-label={`Star ${item.title}`}
                onClick={() => toggle(item.id)}
              >
                {starred.includes(item.id) ? '★' : '☆'}
              </button>
              <span className="title">{item.title}</span>
              {item.detail && <span className="detail">{item.detail}</span>}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
