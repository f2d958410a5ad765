/** The app's one live connection, over the app's one store. Started by main.tsx. */
import { subscribeToken, tokenRequired } from "../auth";
import { config } from "../config";
import { liveStore } from "../store/liveStore";
import { LiveConnection, loadActiveIncidents } from "./connection";

export const liveFeed = new LiveConnection({
  url: config.wsUrl,
  store: liveStore,
  onOpen: () => void loadActiveIncidents(liveStore),
});

// A new token (given after the API asked for one) opens the feed again with it.
subscribeToken(() => {
  if (!tokenRequired()) liveFeed.reconnectNow();
});
