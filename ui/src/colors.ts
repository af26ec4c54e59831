// Stable colours per service name.

const cache = new Map<string, string>();

export function serviceColor(name: string): string {
  let c = cache.get(name);
  if (c) return c;
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  const hue = (h >>> 0) % 360;
  const sat = 55 + ((h >>> 9) % 20);
  c = `hsl(${hue} ${sat}% 52%)`;
  cache.set(name, c);
  return c;
}
