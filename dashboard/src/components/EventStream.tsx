import { useMemo } from "react";
import { List, type RowComponentProps } from "react-window";
import type { PlatformEvent } from "../api";
import { formatCount, formatTime, severityLabel, severityStyle } from "../format";
import { useLive } from "../store/liveStore";
import { filterEvents, isFilterActive, SEVERITIES, toggleSeverity } from "../store/logic";
import { SeverityBadge } from "./SeverityBadge";

const ROW_HEIGHT = 30;

function EventRow({ index, style, ariaAttributes, events }: RowComponentProps<{ events: readonly PlatformEvent[] }>) {
  const event = events[index]!;
  const tone = severityStyle(event.severity);
  return (
    <div
      style={style}
      {...ariaAttributes}
      className={`flex items-center gap-2 border-b border-slate-800/60 px-2 font-mono text-xs ${index % 2 ? "bg-slate-900/40" : ""}`}
      data-event-id={event.eventId}
      data-service={event.service}
    >
      <span className="w-16 shrink-0 tabular-nums text-slate-400">{formatTime(event.timestamp)}</span>
      <SeverityBadge severity={event.severity} compact />
      <span className="w-36 shrink-0 truncate text-slate-200" title={event.service}>
        {event.service}
      </span>
      <span className={`min-w-0 flex-1 truncate ${event.severity >= 4 ? tone.text : "text-slate-300"}`} title={event.message}>
        {event.errorType ? <span className="text-slate-500">{event.errorType}: </span> : null}
        {event.message || <span className="text-slate-600">(no message)</span>}
      </span>
    </div>
  );
}

/**
 * The live event stream: newest first, virtualized (only the visible rows exist in the DOM), with
 * pause/resume and filters by service, severity and text.
 */
export function EventStream({ height = 420 }: { height?: number }) {
  const events = useLive((s) => s.frozen ?? s.events);
  const paused = useLive((s) => s.paused);
  const newWhilePaused = useLive((s) => (s.paused ? s.received - s.receivedAtPause : 0));
  const filter = useLive((s) => s.filter);
  const services = useLive((s) => s.services);
  const setPaused = useLive((s) => s.setPaused);
  const setFilter = useLive((s) => s.setFilter);
  const resetFilter = useLive((s) => s.resetFilter);
  const visible = useMemo(() => filterEvents(events, filter), [events, filter]);
  const rowProps = useMemo(() => ({ events: visible }), [visible]);

  return (
    <div className="flex min-h-0 flex-col gap-2" data-testid="event-stream">
      <div className="flex flex-wrap items-center gap-2" role="toolbar" aria-label="Event stream controls">
        <button
          type="button"
          className={`btn ${paused ? "btn-primary" : "btn-secondary"}`}
          onClick={() => setPaused(!paused)}
          aria-pressed={paused}
          data-testid="pause-toggle"
        >
          {paused ? "▶ Resume" : "❚❚ Pause"}
        </button>
        {paused && newWhilePaused > 0 && (
          <span className="text-xs text-amber-300" role="status">
            {formatCount(newWhilePaused)} new while paused
          </span>
        )}
        <label className="flex items-center gap-1 text-xs text-slate-400">
          Service
          <select className="input py-1" value={filter.service} onChange={(e) => setFilter({ service: e.target.value })} data-testid="filter-service">
            <option value="">all services</option>
            {services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="flex items-center gap-1">
          <legend className="sr-only">Severities shown</legend>
          {SEVERITIES.map((s) => {
            const on = filter.severities.includes(s);
            return (
              <button
                key={s}
                type="button"
                aria-pressed={on}
                title={`${on ? "Hide" : "Show"} severity ${s} (${severityLabel(s)})`}
                onClick={() => setFilter(toggleSeverity(filter, s))}
                className={`h-7 w-7 rounded text-xs font-semibold ${on ? severityStyle(s).badge : "bg-slate-900 text-slate-500 ring-1 ring-slate-700 line-through"}`}
                data-testid={`filter-severity-${s}`}
              >
                {s}
              </button>
            );
          })}
        </fieldset>
        <input
          type="search"
          className="input w-40 py-1"
          placeholder="Filter text…"
          aria-label="Filter events by text"
          value={filter.text}
          onChange={(e) => setFilter({ text: e.target.value })}
        />
        {isFilterActive(filter) && (
          <button type="button" className="btn btn-ghost" onClick={resetFilter}>
            Clear filters
          </button>
        )}
        <span className="ml-auto text-xs tabular-nums text-slate-500" data-testid="stream-count">
          {formatCount(visible.length)} of {formatCount(events.length)} buffered
        </span>
      </div>
      {visible.length === 0 ? (
        <p className="flex items-center justify-center rounded border border-dashed border-slate-800 text-sm text-slate-500" style={{ height }}>
          {events.length === 0 ? "Waiting for events… (make demo sends a storm)" : "No buffered event matches the filters."}
        </p>
      ) : (
        <List
          className="rounded border border-slate-800 bg-slate-950"
          style={{ height }}
          rowComponent={EventRow}
          rowCount={visible.length}
          rowHeight={ROW_HEIGHT}
          rowProps={rowProps}
          overscanCount={8}
          tabIndex={0}
          aria-label="Live events, newest first"
        />
      )}
    </div>
  );
}
