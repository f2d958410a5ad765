export function IncidentDetail() { return null; }
