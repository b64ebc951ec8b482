// {{title}} widget (React): renders the result of `{{tool}}` ({title, items: [{id, title,
// detail, done}], viewer?}). `window.widgetry` is the Widgetry runtime, injected into the
// page by the bundler (API: crates/widgetry/js/widgetry.d.ts in the Widgetry repository).
import { useEffect, useState } from 'react';

const TOOL = '{{tool}}';

/** The latest tool output, kept current across host updates. */
function useToolOutput() {
  const w = window.widgetry;
  const [output, setOutput] = useState(() => (w ? w.toolOutput : null));
  useEffect(() => {
    if (!w) return undefined;
    const off = w.on('toolresult', (r) => {
      if (r && !r.isError && r.structuredContent) setOutput(r.structuredContent);
    });
    w.ready().then(() => setOutput((o) => o ?? w.toolOutput));
    return off;
  }, [w]);
  return [output, setOutput];
}

export default function App() {
  const [output, setOutput] = useToolOutput();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function refresh() {
    setBusy(true);
    try {
      const r = await window.widgetry.callTool(TOOL, window.widgetry.toolInput || {});
      if (r.isError) setError((r.content || []).map((c) => c.text).join(' ') || 'Refreshing failed.');
      else {
        setError('');
        setOutput(r.structuredContent);
      }
    } catch (e) {
      setError(`Refreshing failed: ${e.message}`);
    } finally {
      setBusy(false);
    }
  }

  if (!window.widgetry) return <p className="error">The Widgetry runtime is missing from this page.</p>;
  const items = output && Array.isArray(output.items) ? output.items : null;
  return (
    <main className="w" aria-busy={items == null}>
      <header className="head">
        <h1>{(output && output.title) || '{{title}}'}</h1>
        <button type="button" onClick={refresh} disabled={busy}>
          {busy ? 'Refreshing…' : 'Refresh'}
        </button>
      </header>
      {output && output.viewer && <p className="viewer">Signed in as {output.viewer.name}</p>}
      {error && <p className="error" role="alert">{error}</p>}
      {items == null ? (
        <p className="note" role="status">Loading…</p>
      ) : items.length === 0 ? (
        <p className="note">Nothing to show.</p>
      ) : (
        <ul className="list">
          {items.map((item) => (
            <li key={item.id} data-done={String(!!item.done)}>
              <span className="title">{item.title}</span>
              {item.detail && <span className="detail">{item.detail}</span>}
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
