import { NavLink, Outlet } from "react-router";
import { ConnectionIndicator } from "./components/ConnectionIndicator";
import { Notices } from "./components/Feedback";
import { TokenPrompt } from "./components/TokenPrompt";

const navClass = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-3 py-1.5 text-sm font-medium ${isActive ? "bg-slate-800 text-white" : "text-slate-300 hover:bg-slate-800/60"}`;

export function AppLayout() {
  return (
    <div className="min-h-screen bg-slate-950 text-slate-200">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-sky-700 focus:px-3 focus:py-1">
        Skip to content
      </a>
      <header className="sticky top-0 z-40 border-b border-slate-800 bg-slate-950/95 backdrop-blur">
        <div className="mx-auto flex max-w-[1600px] flex-wrap items-center gap-4 px-4 py-2">
          <span className="flex items-center gap-2 font-semibold text-slate-50">
            <img src="/favicon.svg" alt="" className="h-6 w-6" />
            Incident Intelligence
          </span>
          <nav aria-label="Main" className="flex gap-1">
            <NavLink to="/" end className={navClass}>
              Overview
            </NavLink>
            <NavLink to="/history" className={navClass}>
              History
            </NavLink>
          </nav>
          <div className="ml-auto">
            <ConnectionIndicator />
          </div>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-[1600px] px-4 py-4">
        <Outlet />
      </main>
      <Notices />
      <TokenPrompt />
    </div>
  );
}
