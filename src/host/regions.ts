/**
 * Regions are Durable Object location hints. For the simulator and for the
 * optional latency model under `wrangler dev`, each region stands for one
 * representative city, and the round trip between two regions is COMPUTED, not
 * measured: great-circle distance, light in fibre at 200 km per millisecond,
 * times a path-inflation factor of 1.5 for the route a provider backbone takes
 * (our assumption), plus 2 ms of processing. It lands within a few tens of
 * percent of published cloud inter-region pings (San Jose - Ashburn comes out
 * at 60 ms, Ashburn - London at 91 ms, London - Singapore at 165 ms), which is
 * what a model of where a quorum is needs; it is not a benchmark of Cloudflare.
 */
export const REGIONS = ['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'oc', 'afr', 'me'] as const;
export type Region = (typeof REGIONS)[number];

/** Representative city of each region: [name, latitude, longitude]. */
export const REGION_CITIES: Readonly<Record<Region, readonly [string, number, number]>> = {
  wnam: ['San Jose', 37.34, -121.89],
  enam: ['Ashburn', 39.04, -77.49],
  sam: ['Sao Paulo', -23.55, -46.63],
  weur: ['London', 51.51, -0.13],
  eeur: ['Warsaw', 52.23, 21.01],
  apac: ['Singapore', 1.35, 103.82],
  oc: ['Sydney', -33.87, 151.21],
  afr: ['Johannesburg', -26.2, 28.05],
  me: ['Dubai', 25.2, 55.27],
};

const FIBRE_KM_PER_MS = 200;
const PATH_INFLATION = 1.5;
const PROCESSING_MS = 2;

/** Round-trip time between two regions in milliseconds (2 ms within one region). */
export function regionRttMs(a: Region, b: Region): number {
  if (a === b) return PROCESSING_MS;
  const [, lat1, lon1] = REGION_CITIES[a];
  const [, lat2, lon2] = REGION_CITIES[b];
  const rad = Math.PI / 180;
  const h = Math.sin(((lat2 - lat1) * rad) / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  const km = 2 * 6371 * Math.asin(Math.sqrt(h));
  return Math.round(((2 * km) / FIBRE_KM_PER_MS) * PATH_INFLATION + PROCESSING_MS);
}
