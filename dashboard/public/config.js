// Runtime settings, read before the app starts. Replace this file in a deployed build to point the
// dashboard elsewhere without rebuilding it; anything left unset falls back to the build-time
// VITE_API_URL / VITE_WS_URL, then to http://localhost:5000 and ws://localhost:5000/ws.
// Paths ("/", "/ws") resolve against the page's own origin.
//
// window.__II_CONFIG__ = { apiUrl: "https://incidents.example.com", wsUrl: "wss://incidents.example.com/ws" };
