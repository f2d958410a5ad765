import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, RouterProvider } from "react-router";
import { AppLayout } from "./App";
import { adoptTokenFromLocation } from "./auth";
import "./index.css";
import { liveFeed } from "./live/feed";
import { liveStore } from "./store/liveStore";
import { History } from "./views/History";
import { IncidentDetail } from "./views/IncidentDetail";
import { NotFound } from "./views/NotFound";
import { Overview } from "./views/Overview";

const router = createBrowserRouter([
  {
    path: "/",
    element: <AppLayout />,
    children: [
      { index: true, element: <Overview /> },
      { path: "incidents/:incidentId", element: <IncidentDetail /> },
      { path: "history", element: <History /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);

adoptTokenFromLocation(window.location, window.history);
liveFeed.start();

if (import.meta.env.VITE_EXPOSE_STORE) {
  // For the firehose benchmark (e2e/bench-stream.mjs): how many events the store has taken in.
  (window as unknown as { __iiReceived: () => number }).__iiReceived = () => liveStore.getState().received;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <RouterProvider router={router} />
  </StrictMode>,
);
