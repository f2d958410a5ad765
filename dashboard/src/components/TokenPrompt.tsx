import { useState, useSyncExternalStore } from "react";
import { setToken, subscribeToken, tokenRequired } from "../auth";

/**
 * Asks for a token when the API refused a request for want of one (READ_TOKENS or API_TOKENS on the
 * server). The page reloads with it, so every view and the live feed start again authorised.
 */
export function TokenPrompt() {
  const required = useSyncExternalStore(subscribeToken, tokenRequired, () => false);
  const [value, setValue] = useState("");
  if (!required) return null;
  return (
    <div role="dialog" aria-modal="true" aria-labelledby="token-title" className="fixed inset-0 z-50 flex items-center justify-center bg-slate-950/80 p-4">
      <form
        className="w-full max-w-md space-y-3 rounded-lg border border-slate-700 bg-slate-900 p-4 shadow-xl"
        onSubmit={(e) => {
          e.preventDefault();
          setToken(value);
          window.location.reload();
        }}
      >
        <h2 id="token-title" className="text-base font-semibold text-slate-50">
          This platform needs a token
        </h2>
        <p className="text-sm text-slate-300">
          The API refused the request without a valid token. Paste the read token (or a write token, to acknowledge and resolve incidents) your team was given. It is kept in this browser only.
        </p>
        <label className="block text-sm">
          <span className="text-slate-300">Token</span>
          <input
            type="password"
            autoComplete="off"
            required
            value={value}
            onChange={(e) => setValue(e.target.value)}
            className="mt-1 w-full rounded-md border border-slate-700 bg-slate-950 px-2 py-1.5 font-mono text-sm text-slate-100"
          />
        </label>
        <div className="flex justify-end">
          <button type="submit" className="btn btn-primary">
            Use this token
          </button>
        </div>
      </form>
    </div>
  );
}
