import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { MinuteStats } from "../api";
import { SEVERITY_STYLES, severityLabel } from "../format";
import { useNow } from "../hooks";
import { liveStore } from "../store/liveStore";
import { SEVERITIES, timelineRows } from "../store/logic";

const minuteLabel = (minute: number) => new Date(minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });

/**
 * Events per minute by severity over the last hour: the API's rollups merged with what arrived
 * live. Redrawn every two seconds rather than on every frame of a storm.
 */
export function TimelineChart({ rollups, minutes = 60 }: { rollups: readonly MinuteStats[]; minutes?: number }) {
  const now = useNow(2000);
  const rows = timelineRows(rollups, liveStore.getState().liveMinutes, now, minutes);
  const total = rows.reduce((sum, r) => sum + r.total, 0);
  return (
    <div className="h-56 w-full" data-testid="timeline-chart" role="img" aria-label={`Events per minute by severity, last ${minutes} minutes: ${total} events`}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={rows} margin={{ top: 4, right: 8, bottom: 0, left: -12 }} barCategoryGap={1}>
          <CartesianGrid stroke="#1e293b" vertical={false} />
          <XAxis dataKey="minute" tickFormatter={minuteLabel} stroke="#64748b" fontSize={11} minTickGap={24} />
          <YAxis stroke="#64748b" fontSize={11} allowDecimals={false} />
          <Tooltip
            labelFormatter={(m) => minuteLabel(Number(m))}
            contentStyle={{ background: "#0f172a", border: "1px solid #334155", fontSize: 12 }}
            cursor={{ fill: "#1e293b" }}
          />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {SEVERITIES.map((s) => (
            <Bar key={s} dataKey={`s${s}`} name={`${s} ${severityLabel(s)}`} stackId="sev" fill={SEVERITY_STYLES[s]!.color} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
