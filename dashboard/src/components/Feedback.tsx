import { useLive } from "../store/liveStore";

/** An error from the API, shown where the data would be, with a way to try again. */
export function ErrorMessage({ error, onRetry, title = "Request failed" }: { error: string; onRetry?: () => void; title?: string }) {
  return (
    <div role="alert" className="flex items-start gap-3 rounded-md border border-red-800 bg-red-950/60 px-3 py-2 text-sm text-red-100">
      <div className="min-w-0 flex-1">
        <p className="font-semibold">{title}</p>
        <p className="break-words font-mono text-xs text-red-200">{error}</p>
      </div>
      {onRetry && (
        <button type="button" onClick={onRetry} className="btn btn-secondary shrink-0">
          Retry
        </button>
      )}
    </div>
  );
}

/** Errors from background work (live feed, polling) stacked in a corner until dismissed. */
export function Notices() {
  const notices = useLive((s) => s.notices);
  const dismiss = useLive((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <div className="fixed bottom-3 right-3 z-50 flex w-96 max-w-[calc(100vw-1.5rem)] flex-col gap-2" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} role="alert" className="flex items-start gap-2 rounded-md border border-red-800 bg-slate-900 px-3 py-2 text-sm shadow-lg">
          <span aria-hidden="true" className="text-red-400">●</span>
          <p className="min-w-0 flex-1 break-words text-slate-100">{n.message}</p>
          <button type="button" className="btn-icon" onClick={() => dismiss(n.id)} aria-label="Dismiss this error">
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}

export function Panel({ title, actions, children, className = "", id }: { title: React.ReactNode; actions?: React.ReactNode; children: React.ReactNode; className?: string; id?: string }) {
  return (
    <section className={`flex min-h-0 flex-col rounded-lg border border-slate-800 bg-slate-900/70 ${className}`} aria-labelledby={id ? `${id}-title` : undefined} id={id}>
      <header className="flex flex-wrap items-center gap-2 border-b border-slate-800 px-3 py-2">
        <h2 id={id ? `${id}-title` : undefined} className="text-sm font-semibold uppercase tracking-wide text-slate-300">
          {title}
        </h2>
        <div className="ml-auto flex flex-wrap items-center gap-2">{actions}</div>
      </header>
      <div className="min-h-0 flex-1 p-3">{children}</div>
    </section>
  );
}
