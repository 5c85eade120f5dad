import type { MultiPolygon, Polygon, Position } from 'geojson';
import { feature } from 'topojson-client';
import type { GeometryObject, Topology } from 'topojson-specification';
import land from 'world-atlas/land-110m.json' with { type: 'json' };
import { REGIONS, REGION_CITIES, type Region } from '../../host/regions.ts';

/**
 * The dashboard's world map: Natural Earth's land at 1:110m (the npm package
 * world-atlas, bundled into the Worker, so the page loads nothing from
 * anywhere) in an equirectangular projection, with each region at its
 * representative city (the one the latency model uses, host/regions.ts).
 */

/** Latitudes shown: Antarctica and the far north carry no region. */
const LAT_MAX = 78;
const LAT_MIN = -56;
export const MAP_WIDTH = 1000;
export const MAP_HEIGHT = Math.round((MAP_WIDTH * (LAT_MAX - LAT_MIN)) / 360);

export interface MapPoint {
  readonly x: number;
  readonly y: number;
}

export function project(lat: number, lon: number): MapPoint {
  const x = ((lon + 180) / 360) * MAP_WIDTH;
  const y = ((LAT_MAX - Math.min(LAT_MAX, Math.max(LAT_MIN, lat))) / (LAT_MAX - LAT_MIN)) * MAP_HEIGHT;
  return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
}

/** Where each region is drawn, and its city. */
export const REGION_POINTS: Readonly<Record<Region, MapPoint & { readonly city: string }>> = Object.fromEntries(
  REGIONS.map((r) => {
    const [city, lat, lon] = REGION_CITIES[r];
    return [r, { ...project(lat, lon), city }];
  }),
) as Record<Region, MapPoint & { readonly city: string }>;

let landPath: string | null = null;

/** The land as one SVG path (computed once per isolate). */
export function landOutline(): string {
  if (landPath !== null) return landPath;
  const topology = land as unknown as Topology<{ land: GeometryObject }>;
  const geo = feature(topology, topology.objects.land);
  const features = 'features' in geo ? geo.features : [geo];
  const parts: string[] = [];
  for (const f of features) {
    const g = f.geometry as Polygon | MultiPolygon | null;
    if (!g) continue;
    const polygons = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
    for (const polygon of polygons) {
      // Rings entirely south of the map (Antarctica) are left out rather than squashed onto its edge.
      if (polygon[0]!.every(([, lat]) => lat! < LAT_MIN)) continue;
      for (const ring of polygon) parts.push(ringPath(ring));
    }
  }
  landPath = parts.join('');
  return landPath;
}

function ringPath(ring: readonly Position[]): string {
  let d = '';
  let last = '';
  let lastLon: number | null = null;
  for (const [lon, lat] of ring) {
    const { x, y } = project(lat!, lon!);
    const point = `${x},${y}`;
    if (point === last) continue; // points that round to one pixel add nothing
    // A ring that crosses the antimeridian jumps from one edge of the map to the other: lift the pen there.
    const jump = lastLon === null || Math.abs(lon! - lastLon) > 180;
    d += `${jump ? 'M' : 'L'}${point}`;
    last = point;
    lastLon = lon!;
  }
  return `${d}Z`;
}
