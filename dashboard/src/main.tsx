import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, RouterProvider } from "react-router";
import { AppLayout } from "./App";
import "./index.css";
import { liveFeed } from "./live/feed";
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

liveFeed.start();

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <RouterProvider router={router} />
  </StrictMode>,
);
