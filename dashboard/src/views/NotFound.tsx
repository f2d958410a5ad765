import { Link } from "react-router";

export function NotFound() {
  return (
    <div className="py-16 text-center">
      <h1 className="text-xl font-semibold">Nothing here</h1>
      <p className="mt-2 text-slate-400">
        <Link className="text-sky-400 underline" to="/">
          Back to the overview
        </Link>
      </p>
    </div>
  );
}
